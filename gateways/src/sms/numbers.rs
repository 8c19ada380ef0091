//! Phone numbers as people type them (`#invite (415) 555-0134`), read with libphonenumber's
//! rules (the `phonenumber` crate, a port kept in step with Google's metadata) rather than by
//! filtering digits: a number without `+` is read in the country of the room's own number, and
//! numbers that no phone can have, premium-rate numbers and short codes are refused, since
//! texting them costs money or reaches nobody.

use domain::PhoneNumber;
use phonenumber::{Mode, Type};

/// Why a typed number is not one Switchboard texts. `Display` is the reply to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedNumberError {
    #[error("That is not a phone number. Write it as you would dial it, e.g. (415) 555-0134 or +44 20 7946 0958.")]
    NotANumber,
    #[error("{0} is not a number any phone can have; check it and try again.")]
    Unassignable(String),
    #[error("{0} is a premium-rate number; Switchboard does not text those.")]
    PremiumRate(String),
    #[error("{0} is a short code; Switchboard texts only phone numbers.")]
    ShortCode(String),
}

/// National numbers this short are short codes (or service numbers), never a subscriber's phone:
/// the shortest phone numbers in libphonenumber's metadata have seven digits, short codes five
/// or six.
const MAX_SHORT_CODE_DIGITS: usize = 6;

/// Reads `typed` as people write numbers (spaces, dots, dashes, brackets; with or without `+`
/// and the country code), in the country of `room_number` when it has no `+`, and returns it in
/// E.164.
pub fn parse_typed(typed: &str, room_number: &PhoneNumber) -> Result<PhoneNumber, TypedNumberError> {
    let typed = typed.trim();
    let region = region_of(room_number);
    let number = phonenumber::parse(region, typed).map_err(|_| TypedNumberError::NotANumber)?;
    let national_digits = number.national().to_string().len();
    if national_digits <= MAX_SHORT_CODE_DIGITS {
        return Err(TypedNumberError::ShortCode(typed.to_owned()));
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    if !number.is_valid() {
        return Err(TypedNumberError::Unassignable(e164));
    }
    match number.number_type(&phonenumber::metadata::DATABASE) {
        Type::PremiumRate => return Err(TypedNumberError::PremiumRate(e164)),
        Type::ShortCode => return Err(TypedNumberError::ShortCode(typed.to_owned())),
        _ => {}
    }
    PhoneNumber::parse(&e164).map_err(|_| TypedNumberError::Unassignable(e164))
}

/// The country of `number`; for a number no country's plan has (test ranges, numbers not yet in
/// the metadata), the main country of its calling code (+1: the US), as people there would
/// dial.
fn region_of(number: &PhoneNumber) -> Option<phonenumber::country::Id> {
    let parsed = phonenumber::parse(None, number.as_str()).ok()?;
    parsed.country().id().or_else(|| {
        let regions = phonenumber::metadata::DATABASE.by_code(&parsed.code().value())?;
        let main = regions.iter().find(|m| m.is_main_country_for_code()).or(regions.first())?;
        main.id().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us_room() -> PhoneNumber {
        PhoneNumber::parse("+14155550100").unwrap()
    }

    fn read(typed: &str) -> Result<String, TypedNumberError> {
        parse_typed(typed, &us_room()).map(|n| n.to_string())
    }

    #[test]
    fn numbers_are_read_the_way_people_type_them_in_the_rooms_country() {
        for typed in ["(415) 555-0134", "415.555.0134", "415-555-0134", "+1 415 555 0134", "1 (415) 555-0134"] {
            assert_eq!(read(typed).as_deref(), Ok("+14155550134"), "{typed}");
        }
        assert_eq!(read("+44 20 7946 0958").as_deref(), Ok("+442079460958"));
        let uk_room = PhoneNumber::parse("+447700900123").unwrap();
        assert_eq!(parse_typed("020 7946 0958", &uk_room).map(|n| n.to_string()).as_deref(), Ok("+442079460958"));
    }

    #[test]
    fn unassignable_premium_rate_and_short_numbers_are_refused() {
        assert_eq!(read("hello"), Err(TypedNumberError::NotANumber));
        assert!(matches!(read("(555) 000-0009"), Err(TypedNumberError::Unassignable(_))), "{:?}", read("(555) 000-0009"));
        assert!(matches!(read("+1 900 555 0134"), Err(TypedNumberError::PremiumRate(_))), "{:?}", read("+1 900 555 0134"));
        assert!(matches!(read("+44 909 879 0000"), Err(TypedNumberError::PremiumRate(_))), "{:?}", read("+44 909 879 0000"));
        assert!(matches!(read("32665"), Err(TypedNumberError::ShortCode(_))), "{:?}", read("32665"));
    }
}
