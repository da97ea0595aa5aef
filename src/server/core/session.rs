//! An open session's input: frames to messages, messages to the built-in commands or the
//! route's handler, errors back to the client.
//!
//! It must not write to sockets (it queues through `output.rs`) nor change channel
//! membership itself (that is `channels.rs`).

use super::*;

impl WorkerCore {
    pub(super) fn on_frame_bytes(&mut self, slot: Slot, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let mut reader = std::mem::take(&mut conn.reader);
        let limits = (self.routes.sockets[conn.route as usize].max_message_bytes, conn.deflate.is_on());
        let result = reader.feed(data, limits, &mut |event| self.on_frame_event(slot, event));
        match result {
            Err(violation) => {
                bump(&self.stats().protocol_closes, 1);
                if violation.code == 1009 {
                    bump(&self.stats().message_too_big_closes, 1);
                }
                log::debug!("connection {slot}: {violation}");
                self.start_close(slot, violation.code, violation.reason);
            }
            Ok(_) => {
                if let Some(conn) = self.conns.get_mut(slot).filter(|c| c.is_open()) {
                    conn.reader = reader;
                }
            }
        }
    }

    pub(super) fn on_frame_event(&mut self, slot: Slot, event: FrameEvent<'_>) -> Flow {
        match event {
            FrameEvent::Text(text) => self.on_message(slot, Payload::Text(text)),
            FrameEvent::Binary(data) => self.on_message(slot, Payload::Binary(data)),
            FrameEvent::Compressed { is_text, payload } => self.on_compressed(slot, is_text, payload),
            FrameEvent::Ping(payload) => self.queue_pong(slot, payload),
            FrameEvent::Pong => {}
            FrameEvent::Close(code) => {
                let code = code.map_or(1000, |(code, _)| code);
                self.start_close(slot, code, "");
            }
        }
        match self.conns.get(slot) {
            Some(conn) if conn.is_open() => Flow::Continue,
            _ => Flow::Stop,
        }
    }

    pub(super) fn on_message(&mut self, slot: Slot, payload: Payload<'_>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.counters.messages_in += 1;
        let stats = &self.service.shared.stats[self.index];
        bump(&stats.messages_in, 1);
        stats.message_bytes.observe(payload.len() as u64);
        let routes = self.routes.clone();
        match (&routes.sockets[conn.route as usize].kind, payload) {
            (SocketKind::Echo, Payload::Text(text)) => self.queue_own(slot, OpCode::Data(Data::Text), text.as_bytes()),
            (SocketKind::Echo, Payload::Binary(data)) => self.queue_own(slot, OpCode::Data(Data::Binary), data),
            (SocketKind::Json(_), Payload::Binary(_)) => {
                self.send_error(slot, "bad-message", "binary messages are not supported; send JSON text")
            }
            (SocketKind::Json(handler), Payload::Text(text)) => {
                if self.take_rate(slot, true) {
                    self.on_json(slot, &**handler, text);
                }
            }
            (SocketKind::Tap, _) => {}
        }
    }

    pub(super) fn on_json(&mut self, slot: Slot, handler: &dyn crate::service::Handler, text: &str) {
        let message = match Inbound::parse(text) {
            Ok(message) => message,
            Err(e) => {
                log::debug!("connection {slot}: unreadable message: {e}");
                return self.send_error(slot, "bad-json", crate::service::message::explain_unreadable(&e));
            }
        };
        match &*message.cmd {
            "heartbeat" => {
                bump(&self.stats().heartbeats, 1);
                let heartbeat = self.common.heartbeat.clone();
                return self.queue(slot, heartbeat);
            }
            "refresh" => return self.refresh(slot, message.param()),
            _ => {}
        }
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let Some(session) = conn.session.clone() else {
            return;
        };
        let channel = message.channel.as_deref().unwrap_or(&session.channel);
        let is_member = conn.in_channel(channel);
        if self.service.shared.tap.is_active() {
            let event = TapEvent {
                time: TapEvent::now_ms(),
                dir: "in",
                conn: Some(session.id),
                target: None,
                channel: Some(channel),
                user: Some(&session.profile.id),
                cmd: &message.cmd,
                param: message.param(),
            };
            ops::tap(self, &event);
        }
        if is_member && !self.authorized(&session.profile, channel, ChannelAction::Publish) {
            return self.send_error(slot, "forbidden", &format!("not allowed to publish to '{channel}'"));
        }
        if !is_member {
            return self.send_error(slot, "not-member", &format!("not a member of channel '{channel}'"));
        }
        self.handling = Some((session.id, slot));
        let result = self.isolated("on_message", |core| {
            handler.on_message(
                &mut Context::new(core, Some(session.id)),
                &session,
                channel,
                &message.cmd,
                message.param(),
            )
        });
        self.handling = None;
        match result {
            Some(Ok(())) => {}
            Some(Err(e)) => self.send_error(slot, e.code(), &e.to_string()),
            None => self.send_error(slot, "internal", "the server failed to handle this message"),
        }
    }

    /// The built-in `refresh {slot}`: a new credential for a live connection.
    pub(super) fn refresh(&mut self, slot: Slot, param: &serde_json::value::RawValue) {
        #[derive(serde::Deserialize)]
        struct Refresh {
            token: String,
        }
        let Some(conn) = self.conns.get(slot) else { return };
        let Some(session) = conn.session.clone() else { return };
        let Some(authenticator) = self.routes.sockets[conn.route as usize].authenticator.clone() else {
            return self.send_error(slot, "refresh-failed", "this route has no authentication");
        };
        let Ok(Refresh { token: credential }) = serde_json::from_str(param.get()) else {
            return self.send_error(slot, "bad-param", "refresh needs {\"token\": string}");
        };
        let Some(refreshed) = self.isolated("refresh", |_| authenticator.refresh(&credential, &session.profile)) else {
            return self.send_error(slot, "internal", "the server failed to check this token");
        };
        match refreshed {
            Ok(profile) if profile.id == session.profile.id => {
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.expiry = expiry_of(&profile);
                }
                let reply = serde_json::json!({ "expires_at": profile.expires_at });
                match crate::service::message::encode(Default::default(), "refreshed", &reply) {
                    Ok(frame) => self.queue(slot, frame),
                    Err(e) => log::warn!("refresh reply not sent: {e}"),
                }
            }
            Ok(_) => self.send_error(slot, "refresh-failed", "the new token is for another user"),
            Err(refusal) => self.send_error(slot, "refresh-failed", &refusal.reason),
        }
    }

    pub(super) fn send_error(&mut self, slot: Slot, code: &str, message: &str) {
        bump(&self.stats().errors_sent, 1);
        self.queue(slot, error_frame(code, message));
    }
}
