//! Rooms: named sets of sessions, indexed so that a room broadcast costs the size of
//! the room, not the size of the hub.

use crate::session::{Session, SessionId};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The hub's room index.
///
/// Consistency rule: a session is in `rooms[r]` exactly when `r` is in the session's
/// own room list. Both are changed together while holding this index's write lock
/// (lock order: this lock, then the session's room list), and a closed session can
/// never join, so disconnect cleanup cannot race with a late `join`.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    // RwLock: room broadcasts (readers) vastly outnumber joins/leaves (writers).
    // Never held across `.await` or user callbacks.
    map: RwLock<HashMap<Arc<str>, HashMap<SessionId, Session>>>,
}

impl Rooms {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Arc<str>, HashMap<SessionId, Session>>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Arc<str>, HashMap<SessionId, Session>>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn join(&self, session: &Session, room: &str) -> bool {
        let mut map = self.write();
        if session.is_closed() {
            return false;
        }
        let key = match map.get_key_value(room) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(room),
        };
        let members = map.entry(Arc::clone(&key)).or_default();
        if members.insert(session.id(), session.clone()).is_some() {
            return false;
        }
        session.room_list().push(key);
        true
    }

    pub(crate) fn leave(&self, session: &Session, room: &str) -> bool {
        let mut map = self.write();
        let Some(members) = map.get_mut(room) else {
            return false;
        };
        if members.remove(&session.id()).is_none() {
            return false;
        }
        if members.is_empty() {
            map.remove(room);
        }
        session.room_list().retain(|r| &**r != room);
        true
    }

    /// Removes the session from every room it is in (on disconnect).
    pub(crate) fn leave_all(&self, session: &Session) {
        let mut map = self.write();
        let rooms = std::mem::take(&mut *session.room_list());
        for room in rooms {
            if let Some(members) = map.get_mut(&room) {
                members.remove(&session.id());
                if members.is_empty() {
                    map.remove(&room);
                }
            }
        }
    }

    /// Calls `f` for every member of `room` while holding the read lock. `f` must not
    /// block or call back into the room index.
    pub(crate) fn for_each_member(&self, room: &str, mut f: impl FnMut(&Session)) {
        if let Some(members) = self.read().get(room) {
            members.values().for_each(&mut f);
        }
    }

    pub(crate) fn members(&self, room: &str) -> Vec<Session> {
        self.read()
            .get(room)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn len_of(&self, room: &str) -> usize {
        self.read().get(room).map_or(0, HashMap::len)
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.read().keys().map(|k| k.to_string()).collect()
    }
}
