use crate::aggregates::delivery::*;
use crate::events::*;
use crate::testing::*;

fn queued() -> DeliveryQueued {
    DeliveryQueued {
        delivery_id: id(80),
        room_id: id(10),
        recipient: id(1),
        to: phone("+15551234567"),
        from: phone("+15557654321"),
        body: "[Bob] hi".into(),
        cause_message_id: Some(id(50)),
        cause_event_id: None,
        segment: 1,
        segments: 1,
    }
}

fn status(status: DeliveryStatus) -> Event {
    DeliveryStatusChanged { delivery_id: id(80), status, error_code: None }.into()
}

#[test]
fn a_delivery_is_queued_once() {
    given::<Delivery>(vec![]).when(DeliveryCommand::Queue(queued())).then(vec![queued().into()]);
    given::<Delivery>(vec![queued().into()]).when(DeliveryCommand::Queue(queued())).then_error(DeliveryError::AlreadyQueued);
}

#[test]
fn a_status_for_an_unknown_delivery_is_refused() {
    given::<Delivery>(vec![])
        .when(DeliveryCommand::RecordStatus { status: DeliveryStatus::Sent, error_code: None })
        .then_error(DeliveryError::NotQueued);
}

#[test]
fn submitting_records_the_twilio_sid_once() {
    let submit = |sid: &str| DeliveryCommand::Submit { twilio_sid: sid.into(), status: DeliveryStatus::Queued };
    let submitted: Event = DeliverySubmitted { delivery_id: id(80), twilio_sid: "SM1".into(), status: DeliveryStatus::Queued }.into();
    given::<Delivery>(vec![queued().into()]).when(submit("SM1")).then(vec![submitted.clone()]);
    given::<Delivery>(vec![queued().into(), submitted.clone()]).when(submit("SM1")).then_nothing();
    given::<Delivery>(vec![queued().into(), submitted]).when(submit("SM2")).then_error(DeliveryError::AlreadySubmitted("SM1".into()));
}

#[test]
fn statuses_only_move_forward() {
    given::<Delivery>(vec![queued().into()])
        .when(DeliveryCommand::RecordStatus { status: DeliveryStatus::Sent, error_code: None })
        .then(vec![status(DeliveryStatus::Sent)]);
    given::<Delivery>(vec![queued().into(), status(DeliveryStatus::Sent)])
        .when(DeliveryCommand::RecordStatus { status: DeliveryStatus::Delivered, error_code: None })
        .then(vec![status(DeliveryStatus::Delivered)]);
}

#[test]
fn a_late_sent_after_delivered_is_ignored() {
    given::<Delivery>(vec![queued().into(), status(DeliveryStatus::Delivered)])
        .when(DeliveryCommand::RecordStatus { status: DeliveryStatus::Sent, error_code: None })
        .then_nothing();
}

#[test]
fn the_first_final_status_wins() {
    given::<Delivery>(vec![queued().into(), status(DeliveryStatus::Delivered)])
        .when(DeliveryCommand::RecordStatus { status: DeliveryStatus::Failed, error_code: Some(30005) })
        .then_nothing();
}

#[test]
fn error_21610_marks_the_recipient_opted_out() {
    given::<Delivery>(vec![queued().into()])
        .when(DeliveryCommand::RecordStatus { status: DeliveryStatus::Failed, error_code: Some(TWILIO_OPTED_OUT) })
        .then(vec![
            DeliveryStatusChanged { delivery_id: id(80), status: DeliveryStatus::Failed, error_code: Some(TWILIO_OPTED_OUT) }.into(),
            DeliveryRecipientOptedOut { delivery_id: id(80), recipient: id(1), to: phone("+15551234567") }.into(),
        ]);
}

#[test]
fn a_delivered_message_cannot_fail_permanently() {
    given::<Delivery>(vec![queued().into(), status(DeliveryStatus::Delivered)])
        .when(DeliveryCommand::FailPermanently { error_code: None, reason: "gave up".into() })
        .then_error(DeliveryError::AlreadyDelivered);
}

#[test]
fn a_permanent_failure_is_recorded_once() {
    let failed: Event = DeliveryFailedPermanently { delivery_id: id(80), error_code: Some(30003), reason: "unreachable".into() }.into();
    given::<Delivery>(vec![queued().into()])
        .when(DeliveryCommand::FailPermanently { error_code: Some(30003), reason: "unreachable".into() })
        .then(vec![failed.clone()]);
    given::<Delivery>(vec![queued().into(), failed])
        .when(DeliveryCommand::FailPermanently { error_code: Some(30003), reason: "unreachable".into() })
        .then_nothing();
}
