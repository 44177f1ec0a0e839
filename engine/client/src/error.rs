//! What can go wrong talking to the gateway.

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered the upgrade with HTTP 401: the key is missing,
    /// malformed or unknown. No session was opened.
    #[error("unauthorized (HTTP 401): {message}")]
    Unauthorized {
        /// The server's explanation (the response body).
        message: String,
    },
    /// The server refused the upgrade with another HTTP status (too many
    /// sessions, shutting down, bad query parameter).
    #[error("connection refused with HTTP {status}: {message}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The server's explanation (the response body).
        message: String,
    },
    /// The gateway refused the message with an `error`: it never reached the
    /// engine (`code` is one of docs/PROTOCOL.md's error codes, e.g.
    /// `rate_limited`, `cross_account`, `not_operator`, `bad_command`).
    #[error("refused ({code}): {message}")]
    Refused {
        /// The error code.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The session is closed (the server's `closing` reason, the close
    /// frame's reason, or how the connection was lost). A command sent and
    /// not answered is kept for [`crate::Client::reconnect`] to resend.
    #[error("session closed: {reason}")]
    Closed {
        /// Why.
        reason: String,
    },
    /// No answer within [`crate::Options::request_timeout`]. The command may
    /// still execute; `query` its request id to learn what happened.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A network error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent something the protocol does not allow, or the
    /// WebSocket layer failed; or the request could not be encoded.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The error code when the gateway refused the message.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn body_text(response: &tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>) -> String {
    response
        .body()
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).trim_end().to_owned())
        .unwrap_or_default()
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> ClientError {
        use tokio_tungstenite::tungstenite::Error as E;
        match e {
            E::Http(response) => {
                let status = response.status().as_u16();
                let message = body_text(&response);
                if status == 401 {
                    ClientError::Unauthorized { message }
                } else {
                    ClientError::Rejected { status, message }
                }
            }
            E::Io(e) => ClientError::Io(e),
            E::ConnectionClosed | E::AlreadyClosed => ClientError::Closed {
                reason: "connection closed".into(),
            },
            other => ClientError::Protocol(other.to_string()),
        }
    }
}
