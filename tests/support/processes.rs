//! The processes and folders a run of the engine leaves behind, found by the folder its driver made
//! (`psd2fb-<engine pid>-…`): what the process hygiene tests count.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The live processes whose command line or environment names `marker` (a driver's folder, or the
/// `psd2fb-<pid>-` prefix of one engine process's folders), so parallel tests with drivers of their own
/// are not counted. Zombies name nothing and are not counted.
///
/// A marker that is not a driver's (it must name `psd2fb-<digits>-`) is refused with a panic: a short
/// one such as `/tmp`, `/root` or an empty path names nearly every process of the machine, and a test
/// that killed what it found would kill them all.
pub fn processes_naming(marker: &Path) -> Vec<(u32, String)> {
    let marker = marker.to_string_lossy().into_owned();
    let drivers = marker.split("psd2fb-").skip(1).any(|rest| {
        rest.split_once('-')
            .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    });
    assert!(
        drivers,
        "{marker:?} is not a driver's folder or prefix: it would name unrelated processes"
    );
    let own = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .filter(|pid| {
            ["cmdline", "environ"].iter().any(|file| {
                std::fs::read(format!("/proc/{pid}/{file}"))
                    .map(|bytes| String::from_utf8_lossy(&bytes).contains(&marker))
                    .unwrap_or(false)
            })
        })
        .map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_owned())
        })
        .collect()
}

/// The processes naming `marker` and every live descendant of theirs (the headless shell's zygotes
/// and renderers carry neither the folder in their command line nor its environment). Never the init
/// process, this process or its parent, whose descendants are everything.
pub fn processes_under(marker: &Path) -> Vec<(u32, String)> {
    let spared = [1, std::process::id(), std::os::unix::process::parent_id()];
    let mut found = processes_naming(marker);
    found.retain(|(pid, _)| !spared.contains(pid));
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].0;
        for (pid, ppid) in &parents {
            if *ppid == parent && !found.iter().any(|(p, _)| p == pid) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                found.push((*pid, comm.trim().to_owned()));
            }
        }
        i += 1;
    }
    found
}

/// Waits (polling, bounded) until no live process names `marker`; returns what is still there.
pub async fn settle(marker: &Path) -> Vec<(u32, String)> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_naming(marker);
        if left.is_empty() || Instant::now() > until {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The driver folders in the temporary directory made by the engine process `pid`.
pub fn driver_folders_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("psd2fb-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// The TCP ports `pid` listens on, with the local address of each listening socket (from
/// `/proc/net/tcp` and `tcp6`, matched through the process's socket inodes).
pub fn listening_sockets(pid: u32) -> Vec<(String, u16)> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let text = link.to_string_lossy().into_owned();
            text.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, state (0A = LISTEN), inode.
            if fields.len() > 9
                && fields[3] == "0A"
                && inodes.iter().any(|i| i == fields[9])
                && let Some((address, port)) = fields[1].split_once(':')
            {
                out.push((
                    address.to_owned(),
                    u16::from_str_radix(port, 16).unwrap_or(0),
                ));
            }
        }
    }
    out
}

/// Whether a `/proc/net/tcp{,6}` local address (hex) is a loopback address.
pub fn is_loopback(hex: &str) -> bool {
    match hex.len() {
        // IPv4, little-endian: 127.x.x.x ends in 7F.
        8 => hex.ends_with("7F"),
        // IPv6 ::1, or ::ffff:127.x.x.x.
        32 => {
            hex == "00000000000000000000000001000000"
                || (hex.starts_with("0000000000000000FFFF0000") && hex.ends_with("7F"))
        }
        _ => false,
    }
}
