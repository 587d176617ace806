//! JavaScript plugins: ComponentizeJS (StarlingMonkey, from npm) turns the module into a
//! component. It is a dev dependency of the project, installed into its `node_modules` by npm on
//! the first build, so the version is the project's lock file's and nothing is installed
//! globally.
//!
//! Why not the smaller, faster componentize-qjs (QuickJS): its 0.4.5 never releases a borrowed
//! handle passed to an export, and every phase of the contract borrows the request, so each call
//! traps ("borrow handles still remain at the end of the call").

use std::path::Path;
use std::process::Command;

use super::{BUILD_DIR, Project, ToolchainError, WORLD, run, write_wit};

/// The componentizer, as npm installs it.
const COMPONENTIZE: &str = "node_modules/.bin/componentize-js";

pub(super) fn build(project: &Project, output: &Path) -> Result<(), ToolchainError> {
    let componentize = project.dir.join(COMPONENTIZE);
    if !componentize.is_file() {
        install(project)?;
    }
    let wit = write_wit(&project.dir.join(BUILD_DIR).join("wit"))?;
    let mut cmd = Command::new(&componentize);
    cmd.current_dir(&project.dir)
        .arg(&project.entry)
        .arg("--wit")
        .arg(&wit)
        .args(["--world-name", WORLD])
        // The plugin world grants no outbound HTTP: leave out the fetch machinery.
        .args(["--disable", "http", "--disable", "fetch-event"])
        .arg("--out")
        .arg(output);
    run(&mut cmd, "building with ComponentizeJS")
        .map(drop)
        .map_err(|e| match e {
            // Module specifiers carry the contract's exact version: say which one.
            ToolchainError::Failed(printed)
                if printed.contains("Error loading module \"portcullis:plugin/") =>
            {
                ToolchainError::Failed(format!(
                    "{printed}\nimport the contract's interfaces with this gateway's version: `portcullis:plugin/context@{}`",
                    super::contract_version()
                ))
            }
            other => other,
        })
}

/// `npm install` in the project: it follows the project's lock file when there is one. Not
/// `npm ci`: npm 11 writes lock files without the optional packages of other platforms, and its
/// `npm ci` then refuses them as out of sync.
fn install(project: &Project) -> Result<(), ToolchainError> {
    if !project.dir.join("package.json").is_file() {
        return Err(ToolchainError::Failed(format!(
            "{} has no package.json: add one with `@bytecodealliance/componentize-js` as a dev dependency \
             (`npm install --save-dev @bytecodealliance/componentize-js`), as `portcullis plugin new --lang js` does",
            project.dir.display()
        )));
    }
    run(
        Command::new("npm")
            .current_dir(&project.dir)
            .args(["install", "--no-audit", "--no-fund"]),
        "installing ComponentizeJS with `npm install` (Node.js and npm are needed)",
    )?;
    if project.dir.join(COMPONENTIZE).is_file() {
        Ok(())
    } else {
        Err(ToolchainError::Failed(
            "npm install did not install @bytecodealliance/componentize-js: add it to package.json's devDependencies"
                .into(),
        ))
    }
}
