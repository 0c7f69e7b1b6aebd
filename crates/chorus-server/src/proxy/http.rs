//! The HTTP backend: a JSON POST per event to the proxy's endpoint, over one
//! pooled `reqwest` client. Only status 200 is success; other statuses become
//! the error or disconnect of a matching `http.status_to_code_transforms` entry,
//! or a temporary internal error.

use super::{CallError, Request, Response, json};
use crate::config::{ProxyOptions, StatusToCodeTransform};
use chorus_node::{ClientError, Disconnect, HandlerError};
use std::collections::BTreeMap;
use std::time::Duration;

/// One HTTP proxy endpoint.
#[derive(Debug)]
pub(crate) struct HttpBackend {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    transforms: Vec<StatusToCodeTransform>,
}

impl HttpBackend {
    pub(crate) fn new(
        options: &ProxyOptions,
        timeout: Duration,
    ) -> Result<Self, super::ProxyBuildError> {
        let endpoint = reqwest::Url::parse(&options.endpoint).map_err(|e| {
            super::ProxyBuildError::Endpoint(options.endpoint.clone(), e.to_string())
        })?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| super::ProxyBuildError::Client(e.to_string()))?;
        Ok(Self {
            client,
            endpoint,
            transforms: options.http.status_to_code_transforms.clone(),
        })
    }

    pub(crate) async fn call(
        &self,
        request: Request,
        headers: &BTreeMap<String, String>,
        binary: bool,
    ) -> Result<Response, CallError> {
        let body = serde_json::to_vec(&json::encode(&request, binary)?)
            .map_err(|e| CallError::Encode(e.to_string()))?;
        let mut builder = self.client.post(self.endpoint.clone());
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        // Set last: a forwarded Content-Type must not change how the body is read.
        let response = builder
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.transform(status));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Unavailable(e.to_string()))?;
        json::decode(&request, &bytes)
    }

    fn transform(&self, status: u16) -> CallError {
        let Some(t) = self.transforms.iter().find(|t| t.status_code == status) else {
            return CallError::Status(status);
        };
        if let Some(e) = &t.to_error {
            return CallError::Transformed(HandlerError::Error(ClientError::Custom {
                code: e.code,
                message: e.message.clone(),
                temporary: e.temporary,
            }));
        }
        if let Some(d) = &t.to_disconnect {
            return CallError::Transformed(HandlerError::Disconnect(Disconnect::new(
                d.code,
                d.reason.clone(),
            )));
        }
        CallError::Status(status)
    }
}
