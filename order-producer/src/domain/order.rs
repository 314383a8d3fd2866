//! The `Order` aggregate. It validates its own invariants when placed, records the
//! [`OrderCreated`] event it raised (by composition, in a [`RecordedEvents`] field, drained by the
//! application after saving) and decides whether a payment result may settle it.

use super::status::{IllegalTransition, OrderStatus};
use super::values::{Currency, CustomerId, FieldError, MAX_ITEMS, Quantity, Sku, UnitPrice};
use chrono::{DateTime, Utc};
use contracts::domain_event::RecordedEvents;
use contracts::{LineItem, OrderCreated};
use rust_decimal::Decimal;
use uuid::Uuid;

/// One validated line of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: UnitPrice,
}

impl OrderLine {
    /// `quantity × unit_price`; cannot overflow within the value objects' limits.
    pub fn line_total(&self) -> Decimal {
        Decimal::from(self.quantity.get()) * self.unit_price.get()
    }
}

/// Everything needed to place an order; ids and time come from the application's ports.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub order_id: Uuid,
    pub event_id: Uuid,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    pub placed_at: DateTime<Utc>,
}

/// The result of a payment, as far as the order is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentOutcome {
    Completed {
        payment_id: Uuid,
        amount: Decimal,
        currency: String,
    },
    Failed {
        payment_id: Option<Uuid>,
        amount: Decimal,
        currency: String,
        reason: String,
    },
}

impl PaymentOutcome {
    fn target_status(&self) -> OrderStatus {
        match self {
            PaymentOutcome::Completed { .. } => OrderStatus::Paid,
            PaymentOutcome::Failed { .. } => OrderStatus::PaymentFailed,
        }
    }
    fn amount_and_currency(&self) -> (Decimal, &str) {
        match self {
            PaymentOutcome::Completed {
                amount, currency, ..
            }
            | PaymentOutcome::Failed {
                amount, currency, ..
            } => (*amount, currency),
        }
    }
}

/// A recorded status change, for the status history.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// Why a payment result was not applied to an order. The order is left unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettlementRejected {
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("payment amount {paid} does not match the order total {expected}")]
    AmountMismatch { expected: Decimal, paid: Decimal },
    #[error("payment currency {paid} does not match the order currency {expected}")]
    CurrencyMismatch { expected: String, paid: String },
}

impl SettlementRejected {
    /// Stable reason label (metrics, the ignored-results table).
    pub fn reason(&self) -> &'static str {
        match self {
            SettlementRejected::IllegalTransition(t) => match t.from {
                OrderStatus::Paid => "order_already_paid",
                OrderStatus::PaymentFailed => "order_already_failed",
                OrderStatus::PendingPayment => "illegal_transition",
            },
            SettlementRejected::AmountMismatch { .. } => "amount_mismatch",
            SettlementRejected::CurrencyMismatch { .. } => "currency_mismatch",
        }
    }
}

/// The order aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    id: Uuid,
    customer_id: CustomerId,
    currency: Currency,
    lines: Vec<OrderLine>,
    total: Decimal,
    status: OrderStatus,
    payment_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    events: RecordedEvents<OrderCreated>,
}

impl Order {
    /// Place a new order: check the order-level invariants, compute the total, record
    /// `OrderCreated`.
    pub fn place(new: NewOrder) -> Result<Self, FieldError> {
        if new.lines.is_empty() {
            return Err(FieldError::new(
                "items",
                "empty",
                "must contain at least one item",
            ));
        }
        if new.lines.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "items",
                "too_many_items",
                format!(
                    "must contain at most {MAX_ITEMS} items, got {}",
                    new.lines.len()
                ),
            ));
        }
        // ≤ 100 lines × 10 000 units × 1 000 000: far below decimal(19,4)'s 15 integer digits.
        let total = new.lines.iter().map(OrderLine::line_total).sum::<Decimal>();
        let mut order = Self {
            id: new.order_id,
            customer_id: new.customer_id,
            currency: new.currency,
            lines: new.lines,
            total,
            status: OrderStatus::PendingPayment,
            payment_id: None,
            created_at: new.placed_at,
            updated_at: new.placed_at,
            events: RecordedEvents::default(),
        };
        let created = order.created_event(new.event_id);
        order.events.record(created);
        Ok(order)
    }

    /// Rebuild a stored order (no events are recorded).
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        id: Uuid,
        customer_id: CustomerId,
        currency: Currency,
        lines: Vec<OrderLine>,
        total: Decimal,
        status: OrderStatus,
        payment_id: Option<Uuid>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            customer_id,
            currency,
            lines,
            total,
            status,
            payment_id,
            created_at,
            updated_at,
            events: RecordedEvents::default(),
        }
    }

    fn created_event(&self, event_id: Uuid) -> OrderCreated {
        OrderCreated {
            event_id,
            occurred_at: self.created_at,
            order_id: self.id,
            customer_id: self.customer_id.as_str().to_string(),
            total_amount: self.total,
            currency: self.currency.as_str().to_string(),
            items: self
                .lines
                .iter()
                .map(|line| LineItem {
                    sku: line.sku.as_str().to_string(),
                    quantity: line.quantity.get(),
                    unit_price: line.unit_price.get(),
                })
                .collect(),
        }
    }

    /// Decide and apply a payment result. On `Err` the order is unchanged.
    pub fn settle(
        &mut self,
        outcome: &PaymentOutcome,
        at: DateTime<Utc>,
    ) -> Result<StatusChange, SettlementRejected> {
        let to = self.status.transition_to(outcome.target_status())?;
        let (amount, currency) = outcome.amount_and_currency();
        if currency != self.currency.as_str() {
            return Err(SettlementRejected::CurrencyMismatch {
                expected: self.currency.as_str().to_string(),
                paid: currency.to_string(),
            });
        }
        if amount != self.total {
            return Err(SettlementRejected::AmountMismatch {
                expected: self.total,
                paid: amount,
            });
        }
        let (payment_id, reason) = match outcome {
            PaymentOutcome::Completed { payment_id, .. } => (Some(*payment_id), None),
            PaymentOutcome::Failed {
                payment_id, reason, ..
            } => (*payment_id, Some(reason.clone())),
        };
        let change = StatusChange {
            from: self.status,
            to,
            at,
            reason,
        };
        self.status = to;
        self.payment_id = payment_id;
        self.updated_at = at;
        Ok(change)
    }

    /// Take the recorded events; call after the order was saved.
    pub fn drain_events(&mut self) -> Vec<OrderCreated> {
        self.events.drain()
    }
    pub fn pending_events(&self) -> &[OrderCreated] {
        self.events.pending()
    }
    pub fn id(&self) -> Uuid {
        self.id
    }
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }
    pub fn total(&self) -> Decimal {
        self.total
    }
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    pub fn payment_id(&self) -> Option<Uuid> {
        self.payment_id
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i64, price: &str) -> OrderLine {
        OrderLine {
            sku: Sku::parse("sku", sku).unwrap(),
            quantity: Quantity::new("quantity", quantity).unwrap(),
            unit_price: UnitPrice::parse(
                "unit_price",
                price,
                Currency::parse("currency", "EUR").unwrap(),
            )
            .unwrap(),
        }
    }

    fn new_order(lines: Vec<OrderLine>) -> NewOrder {
        NewOrder {
            order_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            customer_id: CustomerId::parse("customer_id", "c-1").unwrap(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            lines,
            placed_at: Utc::now(),
        }
    }

    fn completed(order: &Order) -> PaymentOutcome {
        PaymentOutcome::Completed {
            payment_id: Uuid::now_v7(),
            amount: order.total(),
            currency: "EUR".into(),
        }
    }

    #[test]
    fn placing_computes_total_and_records_one_order_created() {
        let mut order =
            Order::place(new_order(vec![line("a", 2, "10.25"), line("b", 1, "0.5")])).unwrap();
        assert_eq!(order.total().to_string(), "21.00");
        assert_eq!(order.status(), OrderStatus::PendingPayment);
        let events = order.drain_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].order_id, order.id());
        assert_eq!(events[0].total_amount, order.total());
        assert_eq!(events[0].items.len(), 2);
        assert!(order.drain_events().is_empty(), "drained events are gone");
    }

    #[test]
    fn placing_rejects_empty_and_oversized_orders() {
        assert_eq!(Order::place(new_order(vec![])).unwrap_err().code, "empty");
        let many = (0..=MAX_ITEMS)
            .map(|i| line(&format!("s{i}"), 1, "1"))
            .collect();
        assert_eq!(
            Order::place(new_order(many)).unwrap_err().code,
            "too_many_items"
        );
    }

    #[test]
    fn completed_payment_settles_a_pending_order_once() {
        let mut order = Order::place(new_order(vec![line("a", 1, "5")])).unwrap();
        let change = order.settle(&completed(&order), Utc::now()).unwrap();
        assert_eq!(
            (change.from, change.to),
            (OrderStatus::PendingPayment, OrderStatus::Paid)
        );
        let again = order.settle(&completed(&order), Utc::now()).unwrap_err();
        assert_eq!(again.reason(), "order_already_paid");
    }

    #[test]
    fn late_failure_after_paid_is_rejected_and_changes_nothing() {
        let mut order = Order::place(new_order(vec![line("a", 1, "5")])).unwrap();
        order.settle(&completed(&order), Utc::now()).unwrap();
        let before = order.clone();
        let late = PaymentOutcome::Failed {
            payment_id: None,
            amount: order.total(),
            currency: "EUR".into(),
            reason: "DECLINED".into(),
        };
        assert_eq!(
            order.settle(&late, Utc::now()).unwrap_err().reason(),
            "order_already_paid"
        );
        assert_eq!(order, before);
    }

    #[test]
    fn mismatching_amount_or_currency_is_rejected() {
        let mut order = Order::place(new_order(vec![line("a", 1, "5")])).unwrap();
        let wrong_amount = PaymentOutcome::Completed {
            payment_id: Uuid::now_v7(),
            amount: Decimal::ONE,
            currency: "EUR".into(),
        };
        assert_eq!(
            order
                .settle(&wrong_amount, Utc::now())
                .unwrap_err()
                .reason(),
            "amount_mismatch"
        );
        let wrong_currency = PaymentOutcome::Completed {
            payment_id: Uuid::now_v7(),
            amount: order.total(),
            currency: "USD".into(),
        };
        assert_eq!(
            order
                .settle(&wrong_currency, Utc::now())
                .unwrap_err()
                .reason(),
            "currency_mismatch"
        );
        assert_eq!(order.status(), OrderStatus::PendingPayment);
    }
}
