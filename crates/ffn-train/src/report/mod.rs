//! Pictures and pages of runs: `curves.svg` and `confusion.svg` beside every run (plotters'
//! SVG backend), `report.html` per run, and comparisons of several runs.

mod html;
mod inside;
mod plot;

pub use html::{ReportFiles, write_comparison, write_plots, write_run_report};
pub use plot::{Axis, Panel, Series, confusion_svg, panels_svg, run_panels};
