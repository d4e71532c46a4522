//! `qrpay-local`: run qrpay on this machine.
//!
//! - `qrpay-local [--data-dir DIR] [--aws-endpoint URL [--table NAME] [--queue NAME]]`
//!   serves every route of API.md on `QRPAY_ADDR` (default 127.0.0.1:3000)
//!   and prints the demo world's tokens and ready `curl` lines.
//! - `qrpay-local demo [--data-dir DIR]` walks the whole story and exits.

use std::net::SocketAddr;
use std::path::PathBuf;

use qrpay_domain::{BusinessDate, Clock};
use qrpay_local::{demo, seed, start, Backend, Options, DEFAULT_ADDR};

const USAGE: &str = "\
usage: qrpay-local [--data-dir DIR] [--aws-endpoint URL [--table NAME] [--queue NAME]]
       qrpay-local demo [--data-dir DIR]

Serves qrpay on QRPAY_ADDR (default 127.0.0.1:3000) on the embedded store, or
on DynamoDB and SQS at URL (the moto emulator: infra/emulator.sh start).
Reports, statements and bank receipts go to DIR (default ./.qrpay-local).
`demo` runs the whole story on a fresh embedded stack and exits.";

struct Args {
    demo: bool,
    data_dir: PathBuf,
    backend: Backend,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut demo = false;
    let mut data_dir = None;
    let (mut endpoint, mut table, mut queue) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "demo" if !demo => demo = true,
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--aws-endpoint" => endpoint = Some(value("--aws-endpoint")?),
            "--table" => table = Some(value("--table")?),
            "--queue" => queue = Some(value("--queue")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let backend = match endpoint {
        None if table.is_some() || queue.is_some() => {
            return Err("--table and --queue go with --aws-endpoint".into())
        }
        None => Backend::Embedded,
        Some(_) if demo => return Err("the demo runs on the embedded store".into()),
        Some(endpoint) => Backend::Aws {
            endpoint,
            table: table.unwrap_or_else(|| "qrpay-local".into()),
            queue: queue.unwrap_or_else(|| "qrpay-local-payouts".into()),
        },
    };
    let default_dir = if demo {
        ".qrpay-local/demo"
    } else {
        ".qrpay-local"
    };
    Ok(Args {
        demo,
        data_dir: data_dir.unwrap_or_else(|| PathBuf::from(default_dir)),
        backend,
    })
}

fn absolute(dir: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&dir).ok();
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("qrpay-local: {message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    // Human-readable logs on stderr; RUST_LOG=info shows every request.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let data_dir = absolute(args.data_dir);
    if args.demo {
        if let Err(message) = demo::main(data_dir).await {
            eprintln!("qrpay-local demo: {message}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(message) = serve(data_dir, args.backend).await {
        eprintln!("qrpay-local: {message}");
        std::process::exit(1);
    }
}

async fn serve(data_dir: PathBuf, backend: Backend) -> Result<(), String> {
    let addr_text = std::env::var("QRPAY_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.into());
    let addr: SocketAddr = addr_text
        .parse()
        .map_err(|_| format!("QRPAY_ADDR {addr_text:?} is not an address like {DEFAULT_ADDR}"))?;
    let described = match &backend {
        Backend::Embedded => "embedded in-memory store and queue".to_owned(),
        Backend::Aws {
            endpoint,
            table,
            queue,
        } => format!("DynamoDB table {table} and SQS queue {queue} at {endpoint}"),
    };
    let running = start(addr, |url| {
        Options::from_env(data_dir.clone(), backend, url)
    })
    .await?;
    let today = BusinessDate::of(running.stack.clock.now()).to_string();
    println!(
        "qrpay-local listening on http://{} ({described}; reports in {})",
        running.addr,
        data_dir.display()
    );
    println!("{}", seed::banner(&running.demo, &today));
    println!("Ctrl-C stops it; the embedded store forgets everything on exit.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    println!("qrpay-local: stopped");
    Ok(())
}
