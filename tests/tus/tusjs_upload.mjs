// One tus-js-client (npm, unchanged) uploader process: uploads a file to the
// tus creation URL, and writes every request it sends and every response it
// gets as JSON lines to a log, so the test can see what the client did.
//
//   node tusjs_upload.mjs '{"endpoint": URL, "file": PATH, "log": PATH,
//                           "chunkSize": N, "parallelUploads": N,
//                           "storage": PATH, "resume": true|false}'
//
// With "storage", the client keeps its upload URLs (for a parallel upload,
// those of its partial uploads) in tus-js-client's FileUrlStorage at that
// path. With "resume", it looks there for the file's previous upload
// (findPreviousUploads, by the file's fingerprint) and goes on with it
// (resumeFromPreviousUpload); finding none is an error, not a fresh start.
// Exits 0 when the client reports success, 1 when it reports an error.
import { appendFileSync, createReadStream } from 'node:fs'
import { basename } from 'node:path'
import { FileUrlStorage, Upload } from 'tus-js-client'

const options = JSON.parse(process.argv[2])

function event(name, fields) {
  // Synchronous appends: the test reads the log while this process runs and
  // then kills it; nothing must sit in a buffer.
  appendFileSync(options.log, `${JSON.stringify({ event: name, pid: process.pid, ...fields })}\n`)
}

function header(message, name) {
  const value = message.getHeader(name)
  return value === undefined || value === null ? null : value
}

const upload = new Upload(createReadStream(options.file), {
  endpoint: options.endpoint,
  chunkSize: options.chunkSize,
  parallelUploads: options.parallelUploads,
  metadata: { filename: basename(options.file) },
  // No retries: a refused request fails the process (and the test) instead
  // of being retried out of sight.
  retryDelays: null,
  ...(options.storage ? { urlStorage: new FileUrlStorage(options.storage) } : {}),
  onBeforeRequest(req) {
    event('request', {
      method: req.getMethod(),
      url: req.getURL(),
      offset: header(req, 'Upload-Offset'),
      concat: header(req, 'Upload-Concat'),
      length: header(req, 'Upload-Length'),
    })
  },
  onAfterResponse(req, res) {
    event('response', {
      method: req.getMethod(),
      url: req.getURL(),
      status: res.getStatus(),
      offset: header(res, 'Upload-Offset'),
      location: header(res, 'Location'),
    })
  },
  onError(error) {
    event('error', { message: String(error) })
    console.error(`tus-js-client failed: ${error}`)
    process.exit(1)
  },
  onSuccess() {
    event('done', { url: upload.url })
    console.log(JSON.stringify({ url: upload.url }))
    process.exit(0)
  },
})

if (options.resume) {
  const previous = await upload.findPreviousUploads()
  event('previous', { uploads: previous })
  if (previous.length === 0) {
    console.error('no previous upload of this file in the URL storage')
    process.exit(1)
  }
  upload.resumeFromPreviousUpload(previous[0])
}
upload.start()
