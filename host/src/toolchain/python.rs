//! Python plugins: componentize-py (from PyPI) bundles CPython and the module into a component.
//! Found on PATH, or installed on the first build into a virtual environment of the project
//! (`build/venv`) from its `requirements.txt`, so nothing is installed globally.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BUILD_DIR, Project, ToolchainError, WORLD, run, runs, write_wit};

/// The version installed when the project has no `requirements.txt`.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

pub(super) fn build(project: &Project, output: &Path) -> Result<(), ToolchainError> {
    let componentize = componentize_py(project)?;
    let wit = write_wit(&project.dir.join(BUILD_DIR).join("wit"))?;
    let mut cmd = Command::new(&componentize);
    cmd.current_dir(&project.dir)
        .arg("--wit-path")
        .arg(&wit)
        .args(["--world", WORLD, "componentize", &project.module])
        .arg("--python-path")
        .arg(&project.dir)
        .arg("--output")
        .arg(output);
    run(&mut cmd, "building with componentize-py").map(drop)
}

/// The project's `build/venv` componentize-py, else one on PATH, else a new `build/venv`.
fn componentize_py(project: &Project) -> Result<PathBuf, ToolchainError> {
    let venv = project.dir.join(BUILD_DIR).join("venv");
    let in_venv = venv.join("bin").join("componentize-py");
    if runs(&in_venv) {
        return Ok(in_venv);
    }
    let on_path = PathBuf::from("componentize-py");
    if runs(&on_path) {
        return Ok(on_path);
    }
    let python = ["python3", "python"]
        .into_iter()
        .map(PathBuf::from)
        .find(|python| runs(python))
        .ok_or_else(|| {
            ToolchainError::Failed(format!(
                "componentize-py is not installed and no python3 was found to install it: \
                 install Python 3.10 or later, or `pip install {COMPONENTIZE_PY}`"
            ))
        })?;
    run(
        Command::new(&python).arg("-m").arg("venv").arg(&venv),
        "creating a virtual environment for componentize-py",
    )?;
    let pip = venv.join("bin").join("pip");
    let mut install = Command::new(&pip);
    install.args(["install", "--quiet", "--disable-pip-version-check"]);
    let requirements = project.dir.join("requirements.txt");
    if requirements.is_file() {
        install.arg("--requirement").arg(&requirements);
    } else {
        install.arg(COMPONENTIZE_PY);
    }
    run(&mut install, "installing componentize-py with pip")?;
    if runs(&in_venv) {
        Ok(in_venv)
    } else {
        Err(ToolchainError::Failed(format!(
            "pip did not install componentize-py into {}: add `{COMPONENTIZE_PY}` to requirements.txt",
            venv.display()
        )))
    }
}
