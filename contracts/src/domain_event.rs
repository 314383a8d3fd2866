//! Domain-event plumbing shared by every service.
//!
//! An aggregate records [`DomainEvent`]s by composition ([`RecordedEvents`], a field of the
//! aggregate); the application layer drains them after saving and hands them to the outbox in
//! the same database transaction.

use crate::{AvroEvent, OrderCreated, PaymentCompleted, PaymentFailed};
use uuid::Uuid;

/// An event that leaves its service through the outbox.
pub trait DomainEvent: AvroEvent {
    /// The outbox `aggregatetype`; the relay routes it to `outbox.event.<aggregatetype>`.
    const AGGREGATE_TYPE: &'static str;
    /// The outbox `type` column and the Kafka `type` header.
    const EVENT_TYPE: &'static str;
    /// Unique event id: outbox `id`, Kafka `id` header, consumers' de-duplication key.
    fn event_id(&self) -> Uuid;
    /// The outbox `aggregateid`, which becomes the Kafka record key.
    fn aggregate_id(&self) -> String;
}

impl DomainEvent for OrderCreated {
    const AGGREGATE_TYPE: &'static str = "order";
    const EVENT_TYPE: &'static str = "OrderCreated";
    fn event_id(&self) -> Uuid {
        self.event_id
    }
    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }
}

impl DomainEvent for PaymentCompleted {
    const AGGREGATE_TYPE: &'static str = "payment";
    const EVENT_TYPE: &'static str = "PaymentCompleted";
    fn event_id(&self) -> Uuid {
        self.event_id
    }
    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }
}

impl DomainEvent for PaymentFailed {
    const AGGREGATE_TYPE: &'static str = "payment";
    const EVENT_TYPE: &'static str = "PaymentFailed";
    fn event_id(&self) -> Uuid {
        self.event_id
    }
    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }
}

/// The events an aggregate recorded and has not yet handed over; a field of the aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvents<E> {
    pending: Vec<E>,
}

impl<E> Default for RecordedEvents<E> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
        }
    }
}

impl<E> RecordedEvents<E> {
    /// Record an event raised by a state change.
    pub fn record(&mut self, event: E) {
        self.pending.push(event);
    }
    /// Events recorded so far, without taking them.
    pub fn pending(&self) -> &[E] {
        &self.pending
    }
    /// Take every recorded event (after the aggregate was saved).
    pub fn drain(&mut self) -> Vec<E> {
        std::mem::take(&mut self.pending)
    }
}
