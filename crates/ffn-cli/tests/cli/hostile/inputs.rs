//! Input files: numbers outside what f32 training can hold, size limits (endless devices,
//! decompression bombs, huge lines and cells), CSV shapes (no header, other delimiters, CRLF,
//! chosen columns), and text with control characters.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::Expect::{Fails, Succeeds};
use super::{Case, nothing, write};

const HEADER: &str = "a,b,c,label\n";

/// `rows` rows of three features and a two-class label, the first feature of row `odd`
/// replaced by `cell`.
fn table(rows: usize, odd: usize, cell: &str) -> String {
    let mut text = HEADER.to_string();
    for r in 0..rows {
        let first = if r == odd {
            cell.to_string()
        } else {
            format!("{}.5", r % 7)
        };
        text += &format!("{first},{},{},{}\n", r % 3, (r * 7) % 5, ["x", "y"][r % 2]);
    }
    text
}

fn huge_cell(dir: &Path) -> Option<File> {
    write(dir, "t.csv", &table(40, 5, "1e308"));
    None
}

fn gzip_bomb(dir: &Path) -> Option<File> {
    let file = File::create(dir.join("bomb.csv.gz")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(HEADER.as_bytes()).unwrap();
    let block = "0,0,0,x\n".repeat(1 << 16);
    for _ in 0..64 {
        gz.write_all(block.as_bytes()).unwrap();
    }
    gz.finish().unwrap();
    None
}

fn escapes(dir: &Path) -> Option<File> {
    let mut text = "a,\u{1b}[2Jb,c,label\n".to_string();
    for r in 0..60 {
        let label = ["set\u{1b}]0;pwned\u{7}osa", "plain"][r % 2];
        text += &format!("{}.5,{},{},{label}\n", r % 7, r % 3, (r * 7) % 5);
    }
    write(dir, "esc.csv", &text);
    None
}

fn escapes_stay_escaped(dir: &Path, stdout: &str) {
    assert!(stdout.contains("trained 2 epochs"), "{stdout}");
    for svg in ["e/confusion.svg", "e/curves.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{svg}: {e}"));
    }
    let out = super::ffn_in(dir, &["predict", "--run", "e", "--input", "esc.csv"], &[]);
    let predictions = String::from_utf8_lossy(&out.stdout);
    // Piped output keeps the labels exactly; on a terminal they are shown escaped.
    assert!(out.status.success(), "{predictions}");
    assert!(
        predictions.contains("set\u{1b}]0;pwned\u{7}osa"),
        "{predictions}"
    );
    let error = super::ffn_in(
        dir,
        &["predict", "--run", "e", "--input", "e/config.json"],
        &[],
    );
    assert!(!String::from_utf8_lossy(&error.stderr).contains('\u{1b}'));
}

fn no_header(dir: &Path) -> Option<File> {
    let text = std::fs::read_to_string(dir.join("data.csv")).unwrap();
    write(dir, "nohead.csv", text.split_once('\n').unwrap().1);
    None
}

fn trained_without_header(dir: &Path, stdout: &str) {
    assert!(stdout.contains("trained 2 epochs"), "{stdout}");
    let info = super::ffn_in(dir, &["info", "--run", "nh"], &[]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("target 'x4'"), "{info}");
    assert_eq!(features(dir, "nh"), ["x0", "x1", "x2", "x3"]);
    let out = super::ffn_in(
        dir,
        &["predict", "--run", "nh", "--input", "nohead.csv"],
        &[],
    );
    let rows = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(rows, 1 + 150, "every row predicted, none taken as a header");
}

fn chosen_features(dir: &Path, _: &str) {
    assert_eq!(features(dir, "sub"), ["petal_length_cm", "petal_width_cm"]);
}

/// The feature columns the run in `run` was trained on.
fn features(dir: &Path, run: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(run).join("preprocessor.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(value["feature_names"].clone()).unwrap()
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a feature cell of 1e308",
            setup: huge_cell,
            args: &["train", "--dataset", "t.csv", "--out", "n", "--epochs", "2"],
            env: &[],
            expect: Fails("t.csv, line 7, column 'a': 1e308 is far outside the values"),
        },
        Case {
            name: "a regression target of 1e308",
            setup: |dir| {
                let rows: String = (0..40)
                    .map(|r| match r % 5 {
                        0 => format!("{r},1e308\n"),
                        _ => format!("{r},{r}.5\n"),
                    })
                    .collect();
                let text = "a,y\n".to_string() + &rows;
                write(dir, "r.csv", &text);
                None
            },
            args: &[
                "train",
                "--dataset",
                "r.csv",
                "--task",
                "regression",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("column 'y': the values are too large to standardise"),
        },
        Case {
            name: "a predict input of 1e39",
            setup: |dir| {
                write(
                    dir,
                    "p.csv",
                    "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5,3,1,0.2\n1e39,3,1,0.2\n",
                );
                None
            },
            args: &["predict", "--run", "run", "--input", "p.csv"],
            env: &[],
            expect: Fails("p.csv, line 3, column 'sepal_length_cm': 1e39 is far outside"),
        },
        Case {
            name: "a predict input of NaN",
            setup: |dir| {
                write(
                    dir,
                    "p.csv",
                    "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\nNaN,3,1,0.2\n",
                );
                None
            },
            args: &["predict", "--run", "run", "--input", "p.csv"],
            env: &[],
            expect: Fails("line 2, column 'sepal_length_cm': 'NaN' is not a finite number"),
        },
        Case {
            name: "an infinite training cell",
            setup: |dir| {
                write(dir, "t.csv", &table(40, 7, "inf"));
                None
            },
            args: &["train", "--dataset", "t.csv", "--out", "n"],
            env: &[],
            expect: Fails("line 9, column 'a': 'inf' is not a finite number"),
        },
        Case {
            name: "predicting from /dev/zero",
            setup: nothing,
            args: &["predict", "--run", "run", "--input", "/dev/zero"],
            env: &[],
            expect: Fails("/dev/zero: line 1 is larger than the limit of 1048576 bytes"),
        },
        Case {
            name: "a gzip bomb",
            setup: gzip_bomb,
            args: &["train", "--dataset", "bomb.csv.gz", "--out", "n"],
            env: &[("FFN_MAX_INPUT_BYTES", "10000000")],
            expect: Fails("bomb.csv.gz: the input is larger than the limit of 10000000 bytes"),
        },
        Case {
            name: "a line longer than the limit",
            setup: |dir| {
                write(dir, "t.csv", &table(40, 3, &"9".repeat(3000)));
                None
            },
            args: &["train", "--dataset", "t.csv", "--out", "n"],
            env: &[("FFN_MAX_LINE_BYTES", "2000")],
            expect: Fails(
                "t.csv: line 5 is larger than the limit of 2000 bytes; raise it with FFN_MAX_LINE_BYTES",
            ),
        },
        Case {
            name: "a config file larger than the limit",
            setup: |dir| {
                write(
                    dir,
                    "big.json",
                    &format!("{{\"epochs\": 3{}}}", " ".repeat(5000)),
                );
                None
            },
            args: &["train", "--config", "big.json", "--out", "n"],
            env: &[("FFN_MAX_INPUT_BYTES", "4096")],
            expect: Fails("big.json: the input is larger than the limit of 4096 bytes"),
        },
        Case {
            name: "a 200 kB cell is cut in the message",
            setup: |dir| {
                write(dir, "t.csv", &table(40, 2, &"z".repeat(200_000)));
                None
            },
            args: &["train", "--dataset", "t.csv", "--out", "n"],
            env: &[],
            expect: Fails("expected a number, found 'zzzz"),
        },
        Case {
            name: "a file without a header",
            setup: no_header,
            args: &["train", "--dataset", "nohead.csv", "--out", "n"],
            env: &[],
            expect: Fails("nohead.csv, line 1: the first line looks like data, not a header"),
        },
        Case {
            name: "--no-header reads every line as data",
            setup: no_header,
            args: &[
                "train",
                "--dataset",
                "nohead.csv",
                "--no-header",
                "--epochs",
                "2",
                "--out",
                "nh",
            ],
            env: &[],
            expect: Succeeds(trained_without_header),
        },
        Case {
            name: "a semicolon-separated file",
            setup: |dir| {
                write(dir, "semi.csv", "a;b;label\n1;2;x\n3;4;y\n");
                None
            },
            args: &["train", "--dataset", "semi.csv", "--out", "n"],
            env: &[],
            expect: Fails("the file seems to be ';'-separated"),
        },
        Case {
            name: "a tab-separated file",
            setup: |dir| {
                write(dir, "tab.csv", "a\tb\tlabel\n1\t2\tx\n");
                None
            },
            args: &["train", "--dataset", "tab.csv", "--out", "n"],
            env: &[],
            expect: Fails("seems to be '\\t'-separated"),
        },
        Case {
            name: "CRLF line ends keep line numbers",
            setup: |dir| {
                write(dir, "crlf.csv", &table(20, 3, "oops").replace('\n', "\r\n"));
                None
            },
            args: &["train", "--dataset", "crlf.csv", "--out", "n"],
            env: &[],
            expect: Fails("crlf.csv, line 5, column 'a': expected a number, found 'oops'"),
        },
        Case {
            name: "CR-only line ends keep line numbers",
            setup: |dir| {
                write(dir, "cr.csv", &table(20, 2, "oops").replace('\n', "\r"));
                None
            },
            args: &["train", "--dataset", "cr.csv", "--out", "n"],
            env: &[],
            expect: Fails("cr.csv, line 4, column 'a': expected a number, found 'oops'"),
        },
        Case {
            name: "--features naming a missing column",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--features",
                "petal_length_cm,colour",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("no column 'colour'"),
        },
        Case {
            name: "--drop naming the target",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--drop",
                "species",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("a column other than the target"),
        },
        Case {
            name: "--features chooses the columns",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--features",
                "petal_length_cm,petal_width_cm",
                "--epochs",
                "2",
                "--out",
                "sub",
            ],
            env: &[],
            expect: Succeeds(chosen_features),
        },
        Case {
            name: "classification of a continuous target",
            setup: |dir| {
                std::fs::copy(
                    crate::datasets().join("diabetes.csv"),
                    dir.join("diabetes.csv"),
                )
                .unwrap();
                None
            },
            args: &[
                "train",
                "--dataset",
                "diabetes.csv",
                "--task",
                "classification",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("too many for classes; use --task regression"),
        },
        Case {
            name: "an empty file",
            setup: |dir| {
                write(dir, "empty.csv", "");
                None
            },
            args: &["train", "--dataset", "empty.csv", "--out", "n"],
            env: &[],
            expect: Fails("empty.csv is empty"),
        },
        Case {
            name: "a header without rows",
            setup: |dir| {
                write(dir, "h.csv", HEADER);
                None
            },
            args: &["train", "--dataset", "h.csv", "--out", "n"],
            env: &[],
            expect: Fails("has a header row but no data rows"),
        },
        Case {
            name: "a ragged row",
            setup: |dir| {
                write(dir, "r.csv", &(HEADER.to_string() + "1,2,3,x\n1,2,y\n"));
                None
            },
            args: &["train", "--dataset", "r.csv", "--out", "n"],
            env: &[],
            expect: Fails("r.csv, line 3: expected 4 fields like the header, found 3"),
        },
        Case {
            name: "a duplicate column",
            setup: |dir| {
                write(dir, "d.csv", "a,a,label\n1,2,x\n");
                None
            },
            args: &["train", "--dataset", "d.csv", "--out", "n"],
            env: &[],
            expect: Fails("duplicate column name 'a'"),
        },
        Case {
            name: "binary garbage as a dataset",
            setup: |dir| {
                let bytes: Vec<u8> = (0..4096u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                    .collect();
                std::fs::write(dir.join("g.csv"), bytes).unwrap();
                None
            },
            args: &["train", "--dataset", "g.csv", "--out", "n"],
            env: &[],
            expect: Fails("g.csv"),
        },
        Case {
            name: "escape sequences in a column name of a bad cell",
            setup: |dir| {
                write(
                    dir,
                    "e.csv",
                    "\u{1b}[2Ja,label\nfoo\u{1b}]0;x\u{7},y\n1,x\n",
                );
                None
            },
            args: &["train", "--dataset", "e.csv", "--out", "n"],
            env: &[],
            expect: Fails("column '\\u{1b}[2Ja': expected a number, found 'foo\\u{1b}]0;x\\u{7}'"),
        },
        Case {
            name: "escape sequences in labels and names are shown escaped",
            setup: escapes,
            args: &[
                "train",
                "--dataset",
                "esc.csv",
                "--epochs",
                "2",
                "--out",
                "e",
            ],
            env: &[],
            expect: Succeeds(escapes_stay_escaped),
        },
        Case {
            name: "a language model on a missing text",
            setup: nothing,
            args: &["lm", "train", "--text", "missing.txt", "--out", "lm"],
            env: &[],
            expect: Fails("missing.txt"),
        },
        Case {
            name: "a language model on an empty text",
            setup: |dir| {
                write(dir, "blank.txt", "  \n\n ");
                None
            },
            args: &["lm", "train", "--text", "blank.txt", "--out", "lm"],
            env: &[],
            expect: Fails("holds no text"),
        },
        Case {
            name: "a language-model text larger than the limit",
            setup: |dir| {
                write(dir, "t.txt", &"to be or not to be\n".repeat(1000));
                None
            },
            args: &["lm", "train", "--text", "t.txt", "--out", "lm"],
            env: &[("FFN_MAX_INPUT_BYTES", "1000")],
            expect: Fails("t.txt: the input is larger than the limit of 1000 bytes"),
        },
    ]
}
