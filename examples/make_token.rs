//! Prints an HS256 JSON Web Token that `switchyard --jwt-secret ...` accepts: for trying the
//! server, for tests, for the README. It signs with the same crate the server verifies with.
//! It is a development tool, not an identity provider: it must not be the way a production
//! application issues its users' tokens.
//!
//! ```sh
//! export SWITCHYARD_JWT_SECRET=$(openssl rand -hex 32)    # the server reads the same variable
//! cargo run -q --example make_token -- --sub alice --name Alice --roles admin --lifetime 1h
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

/// Prints a signed token (HS256) for a user.
#[derive(Parser, Debug)]
#[command(name = "make_token")]
struct Args {
    /// The user id (`sub`).
    #[arg(long)]
    sub: String,

    /// The display name (`name`); the server uses the id without it.
    #[arg(long)]
    name: Option<String>,

    /// Roles, comma-separated (`roles`), e.g. `admin,editor`.
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,

    /// How long the token is valid: `90s`, `15m`, `1h`, or seconds.
    #[arg(long, default_value = "1h", value_parser = switchyard::config::parse_duration)]
    lifetime: Duration,

    /// Audience (`aud`), for a server run with `--jwt-audience`.
    #[arg(long)]
    aud: Option<String>,

    /// Issuer (`iss`), for a server run with `--jwt-issuer`.
    #[arg(long)]
    iss: Option<String>,

    /// The HS256 secret (the server's `--jwt-secret`).
    #[arg(long, env = "SWITCHYARD_JWT_SECRET", hide_env_values = true)]
    secret: Option<String>,

    /// A file holding the secret (trailing newline ignored).
    #[arg(long, env = "SWITCHYARD_JWT_SECRET_FILE")]
    secret_file: Option<std::path::PathBuf>,
}

fn main() {
    let args = Args::parse();
    match secret(&args).and_then(|secret| sign(&args, &secret)) {
        Ok(token) => println!("{token}"),
        Err(message) => {
            eprintln!("make_token: {message}");
            std::process::exit(2);
        }
    }
}

fn secret(args: &Args) -> Result<String, String> {
    let secret = match (&args.secret, &args.secret_file) {
        (Some(secret), _) => secret.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        (None, None) => return Err("give --secret, --secret-file or SWITCHYARD_JWT_SECRET".into()),
    };
    if secret.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(secret)
}

fn sign(args: &Args, secret: &str) -> Result<String, String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(args.sub));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + args.lifetime.as_secs().max(1)));
    let optional = [("name", &args.name), ("aud", &args.aud), ("iss", &args.iss)];
    for (claim, value) in optional {
        if let Some(value) = value {
            claims.insert(claim.into(), json!(value));
        }
    }
    if !args.roles.is_empty() {
        claims.insert("roles".into(), json!(args.roles));
    }
    let key = EncodingKey::from_secret(secret.as_bytes());
    encode(&Header::new(Algorithm::HS256), &Value::Object(claims), &key).map_err(|e| e.to_string())
}
