//! Learning-rate schedules at chosen steps, against hand-computed values.

use ffn_train::{Schedule, ScheduleConfig};

#[track_caller]
fn assert_lr(schedule: &Schedule, step: usize, epoch: usize, expected: f64) {
    let got = schedule.lr(step, epoch);
    assert!(
        (got - expected).abs() < 1e-12,
        "step {step} epoch {epoch}: {got} vs {expected}"
    );
}

#[test]
fn constant_and_step() {
    let constant = Schedule::new(ScheduleConfig::Constant, 0.1, 100);
    assert_lr(&constant, 0, 0, 0.1);
    assert_lr(&constant, 99, 9, 0.1);
    let step = Schedule::new(ScheduleConfig::parse("step:2:0.5").unwrap(), 0.1, 100);
    for (epoch, lr) in [(0, 0.1), (1, 0.1), (2, 0.05), (3, 0.05), (4, 0.025)] {
        assert_lr(&step, epoch * 10, epoch, lr);
    }
}

#[test]
fn cosine_and_warmups() {
    let cosine = Schedule::new(ScheduleConfig::Cosine { min_lr: 0.0 }, 1.0, 100);
    assert_lr(&cosine, 0, 0, 1.0);
    assert_lr(
        &cosine,
        25,
        0,
        (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0,
    );
    assert_lr(&cosine, 50, 0, 0.5);
    assert_lr(&cosine, 100, 0, 0.0);
    let floor = Schedule::new(ScheduleConfig::Cosine { min_lr: 0.2 }, 1.0, 100);
    assert_lr(&floor, 50, 0, 0.6);

    let warm_cos = Schedule::new(ScheduleConfig::parse("warmup-cosine:10").unwrap(), 1.0, 110);
    for (step, lr) in [(0, 0.0), (5, 0.5), (10, 1.0), (60, 0.5), (110, 0.0)] {
        assert_lr(&warm_cos, step, 0, lr);
    }
    let warm_lin = Schedule::new(ScheduleConfig::parse("warmup-linear:10").unwrap(), 1.0, 110);
    for (step, lr) in [
        (0, 0.0),
        (5, 0.5),
        (10, 1.0),
        (60, 0.5),
        (85, 0.25),
        (110, 0.0),
    ] {
        assert_lr(&warm_lin, step, 0, lr);
    }
}

#[test]
fn reduce_on_plateau_follows_pytorch_rules() {
    let mut plateau = Schedule::new(ScheduleConfig::parse("plateau:0.5:2").unwrap(), 0.1, 100);
    // Best 1.0, then 0.9; three epochs without a relative improvement of 1e-4 exceed patience 2.
    let losses = [1.0, 0.9, 0.95, 0.89995, 0.95];
    let expected = [0.1, 0.1, 0.1, 0.1, 0.05];
    for (loss, lr) in losses.iter().zip(expected) {
        plateau.end_epoch(*loss);
        assert_lr(&plateau, 0, 0, lr);
    }
    // Counting starts again after a reduction.
    plateau.end_epoch(0.95);
    plateau.end_epoch(0.95);
    assert_lr(&plateau, 0, 0, 0.05);
    plateau.end_epoch(0.95);
    assert_lr(&plateau, 0, 0, 0.025);
}

#[test]
fn schedule_specs_are_validated() {
    for bad in [
        "bogus",
        "step:0:0.5",
        "step:2:1.5",
        "plateau:2:3",
        "cosine:5",
        "warmup-linear:x",
    ] {
        let error = ScheduleConfig::parse(bad).unwrap_err().to_string();
        assert!(error.contains("schedule"), "{bad}: {error}");
    }
}
