//! `edge-glance`: the command-line tool on the native client. Everyday jobs
//! (list, show, create, upload, download, update, delete) with tables for
//! people, `--json` for scripts, and progress bars on uploads and downloads;
//! and `metadefs import DIR`, which loads metadata definition namespaces
//! from files in Glance's definition format.
//!
//! Files above `--parallel-threshold` travel in parallel and survive
//! interruptions: uploads through the catalog's tus protocol
//! (`client::resumable`), downloads as ranged requests into `FILE.part`
//! (`client::download`); `--resume` continues one a killed process left
//! (docs/cli.md).

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
    use edge_glance::client::download::{self, DownloadOptions, DownloadReport};
    use edge_glance::client::metadefs::{ImportOutcome, ImportResult};
    use edge_glance::client::resumable::{self, UploadOptions, UploadReport};
    use edge_glance::client::transfer::{parse_size, NotASize, Progress, RateLimit, RetryPolicy};
    use edge_glance::client::{Client, ClientError, ImageRecord, ImageUpdate, NewImage};
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
            #[command(flatten)]
            transfer: TransferArgs,
        },
        /// Upload data to a queued image (resumable above --parallel-threshold).
        Upload {
            /// Image id.
            id: String,
            /// The image data.
            file: PathBuf,
            #[command(flatten)]
            transfer: TransferArgs,
        },
        /// Download an image's data (verified against its hashes).
        Download {
            /// Image id.
            id: String,
            /// Where to write the data (`-` for standard output).
            #[arg(long, short = 'o')]
            file: PathBuf,
            #[command(flatten)]
            transfer: TransferArgs,
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

    /// How big files travel: in parallel, resumable, at what pace.
    #[derive(clap::Args)]
    struct TransferArgs {
        /// Files (or images) larger than this travel as parallel, resumable
        /// transfers; smaller ones in one request. K, M, G suffixes.
        #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = size)]
        parallel_threshold: u64,
        /// Parts sent (uploads) or ranges fetched (downloads) side by side.
        #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
        /// The most bytes in one PATCH of a resumable upload.
        #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = positive_size)]
        chunk_size: u64,
        /// Cap the transfer at this many bytes per second (K, M, G
        /// suffixes), as curl's --limit-rate does.
        #[arg(long, value_name = "BYTES_PER_SECOND", value_parser = positive_size)]
        limit_rate: Option<u64>,
        /// Continue an interrupted transfer (its state file) instead of
        /// starting over.
        #[arg(long)]
        resume: bool,
        /// Where resumable uploads keep their state files [default:
        /// $XDG_STATE_HOME/edge-glance, else ~/.local/state/edge-glance].
        #[arg(long, env = "EDGE_GLANCE_STATE_DIR", value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Tries of a request after network errors, 5xx and 423 before a
        /// transfer gives up (progress starts the count again).
        #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
        retries: u32,
    }

    fn size(raw: &str) -> Result<u64, NotASize> {
        parse_size(raw)
    }

    fn positive_size(raw: &str) -> Result<u64, NotASize> {
        parse_size(raw).and_then(|n| if n > 0 { Ok(n) } else { Err(NotASize(raw.to_owned())) })
    }

    /// No state directory to keep an upload's state in.
    #[derive(Debug, thiserror::Error)]
    #[error("no directory for upload state files: set --state-dir, XDG_STATE_HOME or HOME")]
    struct NoStateDir;

    impl TransferArgs {
        fn retry(&self) -> RetryPolicy {
            RetryPolicy { attempts: self.retries, ..RetryPolicy::default() }
        }

        fn upload_options(&self) -> Result<UploadOptions, NoStateDir> {
            let state_dir = self.state_dir.clone().or_else(resumable::default_state_dir).ok_or(NoStateDir)?;
            Ok(UploadOptions {
                parallel: self.parallel.into(),
                chunk_size: self.chunk_size,
                limit_rate: self.limit_rate,
                retry: self.retry(),
                resume: self.resume,
                ..UploadOptions::new(state_dir)
            })
        }

        fn download_options(&self) -> DownloadOptions {
            DownloadOptions {
                parallel: self.parallel.into(),
                limit_rate: self.limit_rate,
                retry: self.retry(),
                resume: self.resume,
            }
        }
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

    /// The progress bar as a parallel transfer's [`Progress`].
    struct BarProgress(ProgressBar);

    impl Progress for BarProgress {
        fn begin(&self, total: u64, done: u64) {
            self.0.set_length(total);
            self.0.set_position(done);
            self.0.reset_eta();
        }

        fn update(&self, done: u64) {
            self.0.set_position(done);
        }

        fn note(&self, message: &str) {
            // Above the bar, and on stderr even when the bar is hidden (not
            // a terminal): retries and resumes are worth a line in any log.
            self.0.suspend(|| eprintln!("{message}"));
        }
    }

    /// A reader paced by `--limit-rate` (the single-request paths).
    struct Paced<R> {
        inner: R,
        limit: Option<RateLimit>,
    }

    impl<R: Read> Read for Paced<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(limit) = &self.limit else { return self.inner.read(buf) };
            let want = buf.len().min(limit.grain());
            let n = self.inner.read(&mut buf[..want])?;
            limit.take(n);
            Ok(n)
        }
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
            Command::Create { name, disk_format, container_format, visibility, properties, tags, file, transfer } => {
                let meta = NewImage {
                    name,
                    disk_format,
                    container_format,
                    visibility,
                    tags,
                    properties: properties.into_iter().collect::<BTreeMap<_, _>>(),
                    ..NewImage::default()
                };
                let size = file.as_ref().map(std::fs::metadata).transpose()?.map(|m| m.len());
                match (&file, size) {
                    (Some(path), Some(size)) if size > transfer.parallel_threshold => {
                        create_resumable(client, &meta, path, &transfer, json)?
                    }
                    _ => {
                        let data = match (&file, size) {
                            (Some(path), Some(size)) => {
                                let progress = bar(Some(size), "upload");
                                let paced =
                                    Paced { inner: File::open(path)?, limit: transfer.limit_rate.map(RateLimit::new) };
                                let reader: Box<dyn Read + Send> = Box::new(progress.wrap_read(paced));
                                Some((reader, Some(size)))
                            }
                            _ => None,
                        };
                        let image = client.add_image(&meta, data)?;
                        show(&image, json);
                    }
                }
            }
            Command::Upload { id, file, transfer } => {
                let size = std::fs::metadata(&file)?.len();
                if size > transfer.parallel_threshold {
                    let options = transfer.upload_options()?;
                    if let Err(error) = upload_resumable(client, &id, &file, &options, json) {
                        resume_hint(&error, &id, &file);
                        return Err(error.into());
                    }
                } else {
                    let progress = bar(Some(size), "upload");
                    let paced = Paced { inner: File::open(&file)?, limit: transfer.limit_rate.map(RateLimit::new) };
                    client.upload(&id, Box::new(progress.wrap_read(paced)), Some(size))?;
                    progress.finish_and_clear();
                    show(&client.get_image_meta(&id)?, json);
                }
            }
            Command::Download { id, file, transfer } => {
                if file.as_os_str() != "-" {
                    let meta = client.get_image_meta(&id)?;
                    if meta.size.is_some_and(|size| size > transfer.parallel_threshold) {
                        return download_parallel(client, &id, &file, &transfer, json);
                    }
                }
                let (meta, data) = client.get_image(&id)?;
                let progress = bar(meta.size, "download");
                let limit = transfer.limit_rate.map(RateLimit::new);
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
                    // Paced per chunk (1 MiB): coarse, but this path is for
                    // small images and standard output.
                    if let Some(limit) = &limit {
                        limit.take(chunk.len());
                    }
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

    /// `create --file` above the threshold: the image is created (or, with
    /// `--resume`, the interrupted create of the same file is found) and its
    /// id printed before any byte goes, since a resume needs it.
    fn create_resumable(
        client: &Client,
        meta: &NewImage,
        path: &std::path::Path,
        transfer: &TransferArgs,
        json: bool,
    ) -> Result<(), Failure> {
        let options = transfer.upload_options()?;
        let interrupted = match transfer.resume {
            true => resumable::find_interrupted(&options.state_dir, client.base_url(), path)?,
            false => None,
        };
        let (id, created) = match interrupted {
            Some(id) => {
                eprintln!("resuming the interrupted upload of {} into image {id}", path.display());
                (id, false)
            }
            None => {
                let image = client.create_image(meta, true)?;
                eprintln!("created image {}", image.id);
                (image.id, true)
            }
        };
        // A new image has nothing to resume (and no note should say so).
        let options = UploadOptions { resume: !created, ..options };
        let Err(error) = upload_resumable(client, &id, path, &options, json) else { return Ok(()) };
        if created && !error.is_transient() {
            // Refused for good (not merely cut off): nothing half-made stays,
            // as with a single-request create.
            let _ = client.delete_image(&id);
            let _ = std::fs::remove_file(resumable::state_path(&options.state_dir, &id));
        } else {
            resume_hint(&error, &id, path);
        }
        Err(error.into())
    }

    fn upload_resumable(
        client: &Client,
        id: &str,
        path: &std::path::Path,
        options: &UploadOptions,
        json: bool,
    ) -> Result<(), ClientError> {
        let size = std::fs::metadata(path)?.len();
        let progress = BarProgress(bar(Some(size), "upload"));
        let report = resumable::upload_file(client, id, path, options, &progress);
        match &report {
            Ok(_) => progress.0.finish_and_clear(),
            Err(_) => progress.0.abandon(),
        }
        let report = report?;
        print_upload(&report, json);
        Ok(())
    }

    /// How to continue an upload that was cut off.
    fn resume_hint(error: &ClientError, id: &str, path: &std::path::Path) {
        if error.is_transient() {
            eprintln!("the upload into image {id} was interrupted; continue it with:");
            eprintln!("  edge-glance upload {id} {} --resume", path.display());
        }
    }

    /// The image, and (after it, or under `transfer` in JSON) what the
    /// transfer did: a resumed upload sends only what the server lacked.
    fn print_upload(report: &UploadReport, json: bool) {
        let summary = serde_json::json!({
            "size": report.size, "parts": report.parts, "resumed_from": report.resumed_from, "sent": report.sent
        });
        if json {
            let mut value = serde_json::to_value(&report.image).expect("image serializes");
            value["transfer"] = summary;
            print_json(&value);
        } else {
            show(&report.image, false);
            eprintln!(
                "{} bytes in {} parts, {} sent in this run{} (checksums verified)",
                report.size,
                report.parts,
                report.sent,
                if report.resumed_from > 0 {
                    format!(", {} already on the server", report.resumed_from)
                } else {
                    String::new()
                }
            );
        }
    }

    fn download_parallel(
        client: &Client,
        id: &str,
        file: &std::path::Path,
        transfer: &TransferArgs,
        json: bool,
    ) -> Result<(), Failure> {
        let progress = BarProgress(bar(None, "download"));
        progress.0.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let report = download::download_file(client, id, file, &transfer.download_options(), &progress);
        let report: DownloadReport = match report {
            Ok(report) => {
                progress.0.finish_and_clear();
                report
            }
            Err(error) => {
                progress.0.abandon();
                if error.is_transient() {
                    eprintln!("the download was interrupted; continue it with --resume");
                }
                return Err(error.into());
            }
        };
        if json {
            print_json(&serde_json::json!({
                "id": id, "file": file, "size": report.size, "verified": true, "parallel": true,
                "resumed_from": report.resumed_from, "fetched": report.fetched, "restarts": report.restarts
            }));
        } else {
            eprintln!(
                "{} bytes written to {} (checksums verified; {} fetched in this run)",
                report.size,
                file.display(),
                report.fetched
            );
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
