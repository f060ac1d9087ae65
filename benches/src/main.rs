//! The Rust side of the invoke-overhead benchmark: `bindery-bench <components-dir> <iterations>`
//! prints one line per measurement, `<name> <nanoseconds per call>`, each the median of five
//! rounds of `iterations` calls. `benches/run` puts these beside the C numbers.

use std::time::{Duration, Instant};

use bindery::{MetadataMap, Runtime};

const ROUNDS: usize = 5;

fn median_ns(mut per_call: Vec<f64>) -> f64 {
    per_call.sort_by(|a, b| a.partial_cmp(b).unwrap());
    per_call[per_call.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let components = args
        .next()
        .expect("usage: bindery-bench <components-dir> <iterations>");
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = Runtime::builder()
        .resources_path(&components)
        .only(["files"])
        .build()
        .unwrap();
    let md = MetadataMap::from([("fileName".to_string(), "small.txt".to_string())]);
    tokio.block_on(async {
        rt.invoke(
            "files",
            "create",
            b"a small file of 32 bytes........".to_vec(),
            md.clone(),
        )
        .await
        .unwrap();
    });
    let path = tokio.block_on(async {
        let list = rt
            .invoke("files", "list", Vec::new(), MetadataMap::new())
            .await
            .unwrap();
        let files: Vec<String> = serde_json::from_slice(&list.data).unwrap();
        files
            .into_iter()
            .find(|f| f.ends_with("small.txt"))
            .unwrap()
    });

    // Baseline: the file read itself, with no binding in between.
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(std::fs::read(&path).unwrap());
        }
        rounds.push(per_call(t.elapsed(), iterations));
    }
    println!("rust_fs_read {:.0}", median_ns(rounds));

    // The same `get` through the runtime, awaited from a task (how a Rust app calls it).
    let mut rounds = Vec::new();
    tokio.block_on(async {
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(
                    rt.invoke("files", "get", Vec::new(), md.clone())
                        .await
                        .unwrap(),
                );
            }
            rounds.push(per_call(t.elapsed(), iterations));
        }
    });
    println!("rust_invoke {:.0}", median_ns(rounds));
    tokio.block_on(async { rt.shutdown(Duration::from_secs(1)).await.unwrap() });
}

fn per_call(elapsed: Duration, iterations: usize) -> f64 {
    elapsed.as_nanos() as f64 / iterations as f64
}
