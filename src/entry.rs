//! The worker's entry points: `fetch` gives the request an id, runs the
//! handler, renders any error (the only place that happens) and stamps
//! `x-openstack-request-id`; `scheduled` runs the upkeep; `queue` runs
//! imports.

use worker::{
    event, Context, Env, Headers, MessageBatch, Request, Response, ResponseBody, ScheduleContext, ScheduledEvent,
};

use crate::api;
use crate::error::ApiError;
use crate::store::jobs::Job;

fn render(error: &ApiError, accept: Option<&str>) -> Response {
    if error.status >= 500 {
        worker::console_error!("{error}");
    }
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    for (name, value) in &error.headers {
        let _ = headers.set(name, value);
    }
    match Response::from_body(ResponseBody::Body(error.body(accept).into_bytes())) {
        Ok(response) => response.with_status(error.status).with_headers(headers),
        Err(_) => Response::empty().expect("an empty response").with_status(500),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let accept = req.headers().get("accept").ok().flatten();
    let mut response = match api::handle(req, &env, &ctx, request_id.clone()).await {
        Ok(response) => response,
        Err(error) => render(&error, accept.as_deref()),
    };
    let _ = response.headers_mut().set("x-openstack-request-id", &request_id);
    Ok(response)
}

/// The cron trigger (`wrangler.toml` `[triggers]`): scheduled upkeep.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match api::maintenance::run(&env).await {
        Ok(upkeep) if upkeep == Default::default() => {}
        Ok(upkeep) => worker::console_log!("upkeep: {upkeep:?}"),
        Err(error) => worker::console_error!("scheduled upkeep failed: {error}"),
    }
}

/// The import queue and its dead-letter queue (`wrangler.toml`
/// `[[queues.consumers]]`): runs import and location tasks.
#[event(queue)]
async fn queue(batch: MessageBatch<Job>, env: Env, _ctx: Context) -> worker::Result<()> {
    let dead_letter = batch.queue().ends_with("-dlq");
    api::jobs::consume(batch, &env, dead_letter).await;
    Ok(())
}
