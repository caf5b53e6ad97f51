//! Where the models run: the CPU, one CUDA GPU, or the GPU when it works ("auto").

use std::fmt;
use std::str::FromStr;

/// The device asked for (`--device`, `FACEPRINT_DEVICE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider (the default).
    #[default]
    Cpu,
    /// CUDA GPU number N, through ONNX Runtime's CUDA provider. When it cannot be used the engine
    /// fails to build with `gpu_unavailable`; it never runs on the CPU instead.
    Cuda(u32),
    /// GPU 0 when the CUDA provider works there, else the CPU; the engine says which it chose
    /// ([`DeviceChoice`]).
    Auto,
}

impl FromStr for Device {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("unknown device {text:?}: use cpu, cuda, cuda:N (GPU number N) or auto");
        match text.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            "auto" => Ok(Device::Auto),
            other => match other.strip_prefix("cuda:") {
                Some(number) => number.parse().map(Device::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(id) => write!(f, "cuda:{id}"),
            Device::Auto => f.write_str("auto"),
        }
    }
}

/// Where the sessions of one engine actually run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    #[default]
    Cpu,
    Cuda(u32),
}

impl Target {
    pub fn is_gpu(self) -> bool {
        matches!(self, Target::Cuda(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cpu => f.write_str("cpu"),
            Target::Cuda(id) => write!(f, "cuda:{id}"),
        }
    }
}

/// What an engine runs on, and why: the answer to `--device auto`, shown on stderr and in
/// `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceChoice {
    pub requested: Device,
    pub target: Target,
    /// The GPU's name when the target is one (from the NVIDIA driver), if known.
    pub gpu_name: Option<String>,
    /// Why `auto` chose the CPU (what was missing); `None` otherwise.
    pub cpu_because: Option<String>,
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.target, &self.gpu_name, &self.cpu_because) {
            (Target::Cuda(id), Some(name), _) => write!(f, "GPU cuda:{id} ({name})"),
            (Target::Cuda(id), None, _) => write!(f, "GPU cuda:{id}"),
            (Target::Cpu, _, Some(why)) => write!(f, "CPU (no usable GPU: {why})"),
            (Target::Cpu, _, None) => f.write_str("CPU"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_back() {
        for (text, device) in
            [("cpu", Device::Cpu), ("cuda", Device::Cuda(0)), ("CUDA:3", Device::Cuda(3)), ("auto", Device::Auto)]
        {
            assert_eq!(text.parse::<Device>().unwrap(), device);
        }
        assert_eq!(Device::Cuda(2).to_string().parse::<Device>().unwrap(), Device::Cuda(2));
        for bad in ["", "tpu", "cuda:", "cuda:-1", "cuda:x"] {
            let err = bad.parse::<Device>().unwrap_err();
            assert!(err.contains("cpu, cuda, cuda:N"), "{bad}: {err}");
        }
    }
}
