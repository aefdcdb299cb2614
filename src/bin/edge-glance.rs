//! `edge-glance`: the command-line tool on the native client. Everyday jobs
//! (list, show, create, download, update, delete) with tables for people,
//! `--json` for scripts, and progress bars on uploads and downloads; and
//! `metadefs import DIR`, which loads metadata definition namespaces from
//! files in Glance's definition format.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::{Read, Write};
    use std::path::PathBuf;
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};
    use edge_glance::client::metadefs::{ImportOutcome, ImportResult};
    use edge_glance::client::{Client, ImageRecord, ImageUpdate, NewImage};
    use indicatif::{ProgressBar, ProgressStyle};
    use serde_json::Value;

    /// Manage images in an edge image catalog (Glance v2 API).
    #[derive(Parser)]
    #[command(name = "edge-glance", version)]
    struct Args {
        /// The catalog's URL.
        #[arg(long, env = "EDGE_GLANCE_URL", default_value = "http://127.0.0.1:8787")]
        url: String,
        /// A token to send as X-Auth-Token.
        #[arg(long, env = "OS_AUTH_TOKEN")]
        token: Option<String>,
        /// Print JSON instead of tables.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// List images (all pages).
        List {
            /// A filter as KEY=VALUE (any v2 list parameter); repeatable.
            #[arg(long = "filter", value_parser = key_value)]
            filters: Vec<(String, String)>,
            /// Sort, as in the API: name:asc,size:desc.
            #[arg(long)]
            sort: Option<String>,
        },
        /// Show one image.
        Show {
            /// Image id.
            id: String,
        },
        /// Create an image, optionally uploading its data.
        Create {
            /// Name.
            #[arg(long)]
            name: String,
            /// Disk format (raw when a file is given).
            #[arg(long)]
            disk_format: Option<String>,
            /// Container format (bare when a file is given).
            #[arg(long)]
            container_format: Option<String>,
            /// public, private, shared or community.
            #[arg(long)]
            visibility: Option<String>,
            /// A custom property as KEY=VALUE; repeatable.
            #[arg(long = "property", value_parser = key_value)]
            properties: Vec<(String, String)>,
            /// A tag; repeatable.
            #[arg(long = "tag")]
            tags: Vec<String>,
            /// The image data.
            #[arg(long)]
            file: Option<PathBuf>,
        },
        /// Download an image's data (verified against its hashes).
        Download {
            /// Image id.
            id: String,
            /// Where to write the data (`-` for standard output).
            #[arg(long)]
            file: PathBuf,
        },
        /// Update an image's metadata.
        Update {
            /// Image id.
            id: String,
            /// New name.
            #[arg(long)]
            name: Option<String>,
            /// New visibility.
            #[arg(long)]
            visibility: Option<String>,
            /// Set a custom property as KEY=VALUE; repeatable.
            #[arg(long = "property", value_parser = key_value)]
            properties: Vec<(String, String)>,
            /// Remove a custom property; repeatable.
            #[arg(long = "remove-property")]
            remove: Vec<String>,
        },
        /// Delete images.
        Delete {
            /// Image ids.
            #[arg(required = true)]
            ids: Vec<String>,
        },
        /// Metadata definitions (namespaces of properties, objects and tags).
        Metadefs {
            #[command(subcommand)]
            command: MetadefsCommand,
        },
    }

    #[derive(Subcommand)]
    enum MetadefsCommand {
        /// Create the namespaces defined in every *.json file of DIR (Glance's
        /// definition-file format, as in Glance's etc/metadefs). Exits non-zero
        /// if any file failed.
        Import {
            /// The directory of definition files.
            dir: PathBuf,
            /// Delete a namespace that already exists (even a protected one) and
            /// create it from the file, instead of skipping it.
            #[arg(long)]
            replace: bool,
        },
        /// Show a namespace with its resource types, properties, objects and tags.
        Show {
            /// Namespace name.
            namespace: String,
        },
    }

    /// A `--property` argument that is not `KEY=VALUE`.
    #[derive(Debug, thiserror::Error)]
    #[error("expected KEY=VALUE, got '{0}'")]
    struct NotKeyValue(String);

    fn key_value(raw: &str) -> Result<(String, String), NotKeyValue> {
        raw.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| NotKeyValue(raw.to_owned()))
    }

    pub fn main() -> ExitCode {
        let args = Args::parse();
        let mut client = Client::new(&args.url);
        if let Some(token) = &args.token {
            client = client.with_token(token.clone());
        }
        match run(&client, args.command, args.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        }
    }

    fn bar(length: Option<u64>, verb: &str) -> ProgressBar {
        let bar = match length {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let template = if length.is_some() {
            "{prefix} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        } else {
            "{prefix} {spinner} {bytes} {bytes_per_sec}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
        bar.set_prefix(verb.to_owned());
        // Progress goes to stderr and only when it is a terminal.
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    }

    /// A client error, or a failure already reported (one line for `main`).
    type Failure = Box<dyn std::error::Error>;

    fn run(client: &Client, command: Command, json: bool) -> Result<(), Failure> {
        match command {
            Command::List { filters, sort } => {
                let mut params: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                if let Some(sort) = &sort {
                    params.push(("sort", sort));
                }
                let images = client.get_images_detailed(&params)?;
                if json {
                    print_json(&serde_json::to_value(&images).expect("images serialize"));
                } else {
                    let rows = images
                        .iter()
                        .map(|i| {
                            vec![
                                i.id.clone(),
                                i.name.clone().unwrap_or_default(),
                                i.disk_format.clone().unwrap_or_default(),
                                i.container_format.clone().unwrap_or_default(),
                                i.size.map(|s| s.to_string()).unwrap_or_default(),
                                i.status.clone(),
                            ]
                        })
                        .collect();
                    print_table(&["ID", "Name", "Disk Format", "Container Format", "Size", "Status"], rows);
                }
            }
            Command::Show { id } => show(&client.get_image_meta(&id)?, json),
            Command::Create { name, disk_format, container_format, visibility, properties, tags, file } => {
                let meta = NewImage {
                    name,
                    disk_format,
                    container_format,
                    visibility,
                    tags,
                    properties: properties.into_iter().collect::<BTreeMap<_, _>>(),
                    ..NewImage::default()
                };
                let data = match &file {
                    Some(path) => {
                        let file = File::open(path)?;
                        let size = file.metadata()?.len();
                        let progress = bar(Some(size), "upload");
                        let reader: Box<dyn Read + Send> = Box::new(progress.wrap_read(file));
                        Some((reader, Some(size)))
                    }
                    None => None,
                };
                let image = client.add_image(&meta, data)?;
                show(&image, json);
            }
            Command::Download { id, file } => {
                let (meta, data) = client.get_image(&id)?;
                let progress = bar(meta.size, "download");
                let mut out: Box<dyn Write> = if file.as_os_str() == "-" {
                    Box::new(std::io::stdout().lock())
                } else {
                    Box::new(File::create(&file)?)
                };
                let mut written = 0u64;
                for chunk in data {
                    let chunk = match chunk {
                        Ok(chunk) => chunk,
                        Err(error) => {
                            progress.abandon();
                            if file.as_os_str() != "-" {
                                let _ = std::fs::remove_file(&file);
                            }
                            return Err(error.into());
                        }
                    };
                    out.write_all(&chunk)?;
                    written += chunk.len() as u64;
                    progress.inc(chunk.len() as u64);
                }
                out.flush()?;
                progress.finish_and_clear();
                if file.as_os_str() != "-" {
                    if json {
                        print_json(&serde_json::json!({"id": id, "file": file, "size": written, "verified": true}));
                    } else {
                        eprintln!("{written} bytes written to {} (checksums verified)", file.display());
                    }
                }
            }
            Command::Update { id, name, visibility, properties, remove } => {
                let changes = ImageUpdate {
                    name,
                    visibility,
                    set_properties: properties.into_iter().collect(),
                    remove_properties: remove,
                    ..ImageUpdate::default()
                };
                show(&client.update_image(&id, &changes)?, json);
            }
            Command::Delete { ids } => {
                for id in ids {
                    client.delete_image(&id)?;
                    if !json {
                        eprintln!("deleted {id}");
                    }
                }
            }
            Command::Metadefs { command } => return metadefs(client, command, json),
        }
        Ok(())
    }

    fn metadefs(client: &Client, command: MetadefsCommand, json: bool) -> Result<(), Failure> {
        match command {
            MetadefsCommand::Import { dir, replace } => {
                if !dir.is_dir() {
                    return Err(format!("{} is not a directory", dir.display()).into());
                }
                let outcomes = client.import_namespaces(&dir, replace)?;
                if outcomes.is_empty() {
                    return Err(format!("no *.json files in {}", dir.display()).into());
                }
                report_imports(&outcomes, json);
                let failed: Vec<&ImportOutcome> =
                    outcomes.iter().filter(|o| o.result == ImportResult::Failed).collect();
                if !failed.is_empty() {
                    for outcome in &failed {
                        eprintln!("{}: {}", outcome.file.display(), outcome.message.as_deref().unwrap_or("failed"));
                    }
                    return Err(format!("{} of {} files failed to import", failed.len(), outcomes.len()).into());
                }
            }
            MetadefsCommand::Show { namespace } => {
                let shown = client.get_namespace(&namespace)?;
                if json {
                    print_json(&shown);
                } else {
                    print_namespace(&shown);
                }
            }
        }
        Ok(())
    }

    fn report_imports(outcomes: &[ImportOutcome], json: bool) {
        if json {
            print_json(&serde_json::to_value(outcomes).expect("outcomes serialize"));
            return;
        }
        let rows = outcomes
            .iter()
            .map(|o| {
                let result = match o.result {
                    ImportResult::Created => "created",
                    ImportResult::Exists => "skipped",
                    ImportResult::Replaced => "replaced",
                    ImportResult::Failed => "failed",
                };
                vec![
                    o.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                    o.namespace.clone().unwrap_or_default(),
                    result.to_owned(),
                    o.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print_table(&["File", "Namespace", "Result", "Message"], rows);
    }

    /// A namespace as `glance md-namespace-show` prints it: nested lists
    /// shown by their names.
    fn print_namespace(namespace: &Value) {
        let names = |value: &Value| -> String {
            let names: Vec<String> = match value {
                Value::Array(items) => items.iter().filter_map(|i| i["name"].as_str().map(str::to_owned)).collect(),
                Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            };
            serde_json::to_string(&names).expect("names serialize")
        };
        let mut rows: Vec<Vec<String>> = namespace
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "self" | "schema"))
            .map(|(k, v)| {
                let shown = match (k.as_str(), v) {
                    ("resource_type_associations" | "properties" | "objects" | "tags", _) => names(v),
                    (_, Value::String(s)) => s.clone(),
                    (_, Value::Null) => String::new(),
                    (_, other) => other.to_string(),
                };
                vec![k.clone(), shown]
            })
            .collect();
        rows.sort();
        print_table(&["Property", "Value"], rows);
    }

    fn print_json(value: &Value) {
        println!("{}", serde_json::to_string_pretty(value).expect("JSON prints"));
    }

    fn show(image: &ImageRecord, json: bool) {
        let value = serde_json::to_value(image).expect("image serializes");
        if json {
            print_json(&value);
            return;
        }
        let rows = value
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "self" | "file" | "schema"))
            .map(|(k, v)| {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                vec![k.clone(), shown]
            })
            .collect::<Vec<_>>();
        let mut rows = rows;
        rows.sort();
        print_table(&["Property", "Value"], rows);
    }

    /// A plain box table, as the OpenStack CLIs print.
    fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let rule = format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
        let line = |cells: Vec<String>| {
            let padded: Vec<String> =
                cells.iter().zip(&widths).map(|(c, w)| format!(" {c}{} ", " ".repeat(w - c.chars().count()))).collect();
            format!("|{}|", padded.join("|"))
        };
        println!("{rule}");
        println!("{}", line(headers.iter().map(|h| h.to_string()).collect()));
        println!("{rule}");
        for row in rows {
            println!("{}", line(row));
        }
        println!("{rule}");
    }
}
