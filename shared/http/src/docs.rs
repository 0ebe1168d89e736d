//! The `/docs` page: a self-contained HTML reference rendered from the OpenAPI document (no
//! scripts, no CDN, so it works offline and cannot drift from `/openapi.json`).

use std::fmt::Write as _;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline `code` spans of Markdown-ish descriptions.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("PATCH", &item.patch), ("DELETE", &item.delete)]
        .into_iter()
        .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
        .collect()
}

/// Renders the reference page.
pub fn render(spec: &OpenApi) -> String {
    let mut html = String::new();
    let title = escape(&spec.info.title);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>\
         body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}\
         h2{{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}}\
         .op{{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}}\
         .m{{display:inline-block;min-width:4.5rem;font-weight:700}}\
         .GET{{color:#0969da}}.POST{{color:#1a7f37}}.PUT{{color:#9a6700}}.DELETE{{color:#cf222e}}\
         code{{background:#f3f4f6;padding:0 .25rem;border-radius:3px}}table{{border-collapse:collapse}}\
         td,th{{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:top}}</style></head><body>\
         <h1>{title} API <small>{}</small></h1><p>{}</p>\
         <p>Machine-readable: <a href=\"/openapi.json\"><code>/openapi.json</code></a> (OpenAPI {}). \
         Authenticate with <code>Authorization: Bearer &lt;JWT or sk_ API key&gt;</code>. \
         Errors are <code>application/problem+json</code> (RFC 9457).</p>",
        escape(&spec.info.version),
        prose(spec.info.description.as_deref().unwrap_or_default()),
        serde_json::to_value(&spec.openapi).ok().and_then(|v| v.as_str().map(escape)).unwrap_or_default(),
    );
    let tags: Vec<(String, String)> =
        spec.tags.iter().flatten().map(|t| (t.name.clone(), t.description.clone().unwrap_or_default())).collect();
    for (tag, description) in &tags {
        let _ = write!(html, "<h2 id=\"{0}\">{0}</h2><p>{1}</p>", escape(tag), prose(description));
        for (path, item) in &spec.paths.paths {
            for (method, op) in operations(item) {
                if !op.tags.iter().flatten().any(|t| t == tag) {
                    continue;
                }
                render_operation(&mut html, method, path, op);
            }
        }
    }
    html.push_str("</body></html>");
    html
}

fn render_operation(html: &mut String, method: &str, path: &str, op: &Operation) {
    let _ = write!(
        html,
        "<div class=\"op\"><div><span class=\"m {method}\">{method}</span><code>{}</code></div>",
        escape(path)
    );
    if let Some(summary) = &op.summary {
        let _ = write!(html, "<p><strong>{}</strong></p>", prose(summary));
    }
    if let Some(description) = &op.description {
        let _ = write!(html, "<p>{}</p>", prose(description));
    }
    let params = op.parameters.iter().flatten().collect::<Vec<_>>();
    if !params.is_empty() {
        html.push_str("<table><tr><th>Parameter</th><th>In</th><th></th><th>Description</th></tr>");
        for p in params {
            let place = match p.parameter_in {
                ParameterIn::Query => "query",
                ParameterIn::Path => "path",
                ParameterIn::Header => "header",
                ParameterIn::Cookie => "cookie",
            };
            let required = matches!(p.required, utoipa::openapi::Required::True);
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{place}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.name),
                if required { "required" } else { "" },
                prose(p.description.as_deref().unwrap_or_default())
            );
        }
        html.push_str("</table>");
    }
    if let Some(body) = &op.request_body {
        let types: Vec<String> = body.content.keys().map(|k| format!("<code>{}</code>", escape(k))).collect();
        let _ = write!(
            html,
            "<p>Body: {} {}</p>",
            types.join(", "),
            prose(body.description.as_deref().unwrap_or_default())
        );
    }
    html.push_str("<table><tr><th>Status</th><th>Response</th></tr>");
    for (status, response) in &op.responses.responses {
        let description = match response {
            RefOr::T(r) => prose(&r.description),
            RefOr::Ref(r) => escape(&r.ref_location),
        };
        let _ = write!(html, "<tr><td>{}</td><td>{description}</td></tr>", escape(status));
    }
    html.push_str("</table></div>");
}
