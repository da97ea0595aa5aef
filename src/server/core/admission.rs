//! Admission: the checks between a valid upgrade request and a session (origin, identity,
//! channel name, connection limits). It decides; it must not change any connection.

use super::*;

impl WorkerCore {
    /// The checks between a valid upgrade request and a session: origin, identity,
    /// channel name, connection limits. Returns the channel to join and the profile.
    pub(super) fn admit(
        &mut self,
        route: &SocketRoute,
        request: &HttpRequest,
    ) -> Result<(String, Option<Profile>), HttpResponse> {
        let profile = self.identify(route, request)?;
        self.admit_as(route, request, profile, None)
    }

    /// The origin check and the route's authenticator: who is asking.
    pub(super) fn identify(
        &mut self,
        route: &SocketRoute,
        request: &HttpRequest,
    ) -> Result<Option<Profile>, HttpResponse> {
        let config = &self.service.shared.config;
        if let Some(origin) = request.header("origin") {
            let allowed = &config.allowed_origins;
            if !allowed.is_empty() && !allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
                return Err(HttpResponse::text(403, "origin not allowed"));
            }
        }
        match &route.authenticator {
            Some(authenticator) => self
                .isolated("authenticate", |_| authenticator.authenticate(request))
                .ok_or_else(|| HttpResponse::text(500, "authentication failed"))?
                .map_err(|refusal| HttpResponse::text(refusal.status, &refusal.reason)),
            None => Ok(None),
        }
    }

    /// The checks once the identity is known: required authentication, the channel (the
    /// `ch` parameter, else `default_channel`, else a random one), its policy, the limits.
    pub(super) fn admit_as(
        &mut self,
        route: &SocketRoute,
        request: &HttpRequest,
        profile: Option<Profile>,
        default_channel: Option<&str>,
    ) -> Result<(String, Option<Profile>), HttpResponse> {
        let require_auth = self.service.shared.config.require_auth;
        let is_app_route = matches!(route.kind, SocketKind::Json(_));
        if is_app_route && profile.is_none() && require_auth {
            return Err(HttpResponse::text(401, "authentication required"));
        }
        let channel = match request.query_param("ch") {
            Some(name) if valid_channel_name(&name) => name,
            Some(_) => return Err(HttpResponse::text(400, &format!("invalid channel name: {CHANNEL_NAME_RULE}"))),
            None if default_channel.is_some_and(valid_channel_name) => default_channel.unwrap_or_default().to_string(),
            None => format!("{}-{}", route.channel_prefix, &ConnId::new_v4().simple().to_string()[..8]),
        };
        if is_app_route {
            let as_anonymous;
            let who = match &profile {
                Some(profile) => profile,
                None => {
                    as_anonymous = Profile::anonymous(ConnId::nil());
                    &as_anonymous
                }
            };
            if !self.authorized(who, &channel, ChannelAction::Join) {
                return Err(HttpResponse::text(403, "not allowed to join this channel"));
            }
        }
        if let Err(full) = self.service.shared.limits.admit(request.remote.ip()) {
            bump(&self.stats().connections_refused, 1);
            let why = match full {
                Full::Server => "server is at its connection limit",
                Full::Ip => "too many connections from this address",
            };
            return Err(HttpResponse::text(503, why).with_header("Retry-After", "5"));
        }
        Ok((channel, profile))
    }
}
