//! The one filter-and-cap every admin list endpoint answers with: `?q=` keeps the items one of
//! whose search fields contains it (case-insensitive), `?limit=` caps how many are returned
//! (default and ceiling `MAX_LIST`), and the answer is `{total, matching, <key>: [...]}`.
//!
//! Owns the query parameters and the JSON shape of lists; each listed type says only which
//! texts `?q=` searches ([`Searchable`]). It reads what it is given and never touches the
//! service or credentials.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Value};

use crate::server::HttpRequest;
use crate::service::{ChannelInfo, ConnectionInfo, UserInfo};

/// Most items one list answer holds (`?limit=` may lower it).
pub const MAX_LIST: usize = 1000;

/// An item of an admin list: the texts `?q=` looks in.
pub trait Searchable {
    fn search_fields(&self) -> Vec<Cow<'_, str>>;
}

/// A list request's `?q=` (lowercased) and `?limit=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    needle: String,
    limit: usize,
}

impl ListQuery {
    /// The query of a request; a missing or unparsable `limit` means `MAX_LIST`.
    pub fn of(request: &HttpRequest) -> Self {
        let needle = request.query_param("q").unwrap_or_default().to_lowercase();
        let limit = request.query_param("limit").and_then(|l| l.trim().parse::<usize>().ok());
        ListQuery { needle, limit: limit.unwrap_or(MAX_LIST).min(MAX_LIST) }
    }

    /// Whether `item` passes the `?q=` filter (everything does without one).
    pub fn matches(&self, item: &impl Searchable) -> bool {
        self.needle.is_empty() || item.search_fields().iter().any(|text| text.to_lowercase().contains(&self.needle))
    }

    /// `{total, matching, <key>: [the first `limit` matching items]}`.
    pub fn answer<T: Searchable + Serialize>(&self, key: &str, all: &[T]) -> Value {
        let matching: Vec<&T> = all.iter().filter(|item| self.matches(*item)).collect();
        let shown = &matching[..matching.len().min(self.limit)];
        json!({ "total": all.len(), "matching": matching.len(), key: shown })
    }
}

/// Id, user id and name, remote address, path and channels.
impl Searchable for ConnectionInfo {
    fn search_fields(&self) -> Vec<Cow<'_, str>> {
        let mut fields = vec![
            Cow::Owned(self.id.to_string()),
            Cow::Borrowed(self.user.id.as_str()),
            Cow::Borrowed(&*self.user.name),
            Cow::Borrowed(self.remote.as_str()),
            Cow::Borrowed(self.path.as_str()),
        ];
        fields.extend(self.channels.iter().map(|channel| Cow::Borrowed(channel.as_str())));
        fields
    }
}

/// Id and name.
impl Searchable for UserInfo {
    fn search_fields(&self) -> Vec<Cow<'_, str>> {
        vec![self.id.as_str().into(), self.name.as_str().into()]
    }
}

/// The name.
impl Searchable for ChannelInfo {
    fn search_fields(&self) -> Vec<Cow<'_, str>> {
        vec![self.name.as_str().into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> ListQuery {
        let request = HttpRequest {
            method: "GET".into(),
            path: "/admin/api/channels".into(),
            query: text.into(),
            headers: Vec::new(),
            body: Vec::new(),
            remote: "127.0.0.1:1".parse().expect("addr"),
            version: 1,
        };
        ListQuery::of(&request)
    }

    fn channels(names: &[&str]) -> Vec<ChannelInfo> {
        names.iter().map(|name| ChannelInfo { name: name.to_string(), members: 1, users: 1, history: 0 }).collect()
    }

    fn names(answer: &Value) -> Vec<&str> {
        answer["channels"].as_array().expect("list").iter().map(|c| c["name"].as_str().expect("name")).collect()
    }

    #[test]
    fn q_filters_case_insensitively_and_limit_caps() {
        let all = channels(&["Alpha", "beta", "alphabet", "gamma"]);
        let answer = query("q=ALPHA").answer("channels", &all);
        assert_eq!((answer["total"].as_u64(), answer["matching"].as_u64()), (Some(4), Some(2)));
        assert_eq!(names(&answer), ["Alpha", "alphabet"]);
        let capped = query("q=a&limit=3").answer("channels", &all);
        assert_eq!((capped["matching"].as_u64(), names(&capped).len()), (Some(4), 3));
        assert_eq!(names(&query("limit=0").answer("channels", &all)).len(), 0);
    }

    #[test]
    fn a_bad_or_huge_limit_means_the_ceiling() {
        assert_eq!(query(""), query(&format!("limit={MAX_LIST}")));
        assert_eq!(query("limit=nope"), query(""));
        assert_eq!(query("limit=-1"), query(""));
        assert_eq!(query("limit=99999999"), query(""));
        let many: Vec<ChannelInfo> = (0..MAX_LIST + 5).map(|i| channels(&[&format!("c{i}")]).remove(0)).collect();
        let answer = query("").answer("channels", &many);
        assert_eq!((answer["total"].as_u64(), names(&answer).len()), (Some(MAX_LIST as u64 + 5), MAX_LIST));
    }
}
