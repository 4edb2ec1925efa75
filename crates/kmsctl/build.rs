//! Build script: the shell completions and man pages, generated at build time from the clap
//! definitions in `src/cli/` and embedded in the binary (`kmsctl completions SHELL`,
//! `kmsctl man --out DIR`).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{CommandFactory, ValueEnum};

#[allow(dead_code)]
#[path = "src/cli/mod.rs"]
mod cli;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=src/cli");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let mut cmd = cli::Cli::command();
    let mut code = String::from(
        "/// Completion scripts by shell name, made at build time.\n\
         pub const COMPLETIONS: &[(&str, &str)] = &[\n",
    );
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in clap_complete::Shell::value_variants() {
        let path = clap_complete::generate_to(*shell, &mut cmd, "kmsctl", &completions)?;
        writeln!(
            code,
            "    ({:?}, include_str!({:?})),",
            shell.to_string(),
            path
        )?;
    }
    code.push_str(
        "];\n\n/// Man pages by file name, made at build time.\n\
         pub const MAN_PAGES: &[(&str, &str)] = &[\n",
    );
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(cli::Cli::command(), &man)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    pages.sort();
    for page in pages {
        let name = page
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a man page name is not UTF-8")?;
        writeln!(code, "    ({name:?}, include_str!({page:?})),")?;
    }
    code.push_str("];\n");
    std::fs::write(out.join("embedded.rs"), code)?;
    Ok(())
}
