//! `ffn finetune`: a run that starts from a trained run or an imported block.

use anyhow::Result;

use super::train::training;
use crate::args::FinetuneArgs;
use crate::settings::{finetune_config, finetune_resume};

pub fn run(args: FinetuneArgs) -> Result<()> {
    let FinetuneArgs { finetune, train } = args;
    training(
        train,
        |file, flags| finetune_config(file, flags, &finetune),
        |flags| finetune_resume(flags, &finetune),
        ffn_train::finetune,
    )
}
