//! Checking extension parameters.

use super::{ExtensionOffer, NegotiationError};

/// An extension's parameters, checked for duplicates and unknown names.
///
/// ```
/// use wsstack::extensions::Params;
/// use wsstack::extensions::ExtensionOffer;
/// let offer = ExtensionOffer::new("x").with_param("a", Some("9".into())).with_param("b", None);
/// let p = Params::parse(&offer, &["a", "b", "c"])?;
/// assert_eq!(p.number("a", 8, 15)?, Some(9));
/// assert!(p.flag("b") && !p.flag("c"));
/// # Ok::<(), wsstack::extensions::NegotiationError>(())
/// ```
#[derive(Debug)]
pub struct Params<'a> {
    extension: &'a str,
    params: &'a [(String, Option<String>)],
}

impl<'a> Params<'a> {
    /// Check that every parameter of `offer` is in `allowed` and none is
    /// repeated.
    pub fn parse(
        offer: &'a ExtensionOffer,
        allowed: &[&str],
    ) -> Result<Params<'a>, NegotiationError> {
        for (i, (name, _)) in offer.params.iter().enumerate() {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                return Err(param_error(&offer.name, name, "is not allowed"));
            }
            if offer.params[..i]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                return Err(param_error(&offer.name, name, "is repeated"));
            }
        }
        Ok(Params {
            extension: &offer.name,
            params: &offer.params,
        })
    }

    fn get(&self, name: &str) -> Option<&'a Option<String>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether a parameter is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A flag parameter: present and without a value. Presence with a value
    /// is reported by [`Params::expect_flags`].
    pub fn flag(&self, name: &str) -> bool {
        self.has(name)
    }

    /// Fail if any of `names` carries a value.
    pub fn expect_flags(&self, names: &[&str]) -> Result<(), NegotiationError> {
        for name in names {
            if let Some(Some(_)) = self.get(name) {
                return Err(param_error(self.extension, name, "takes no value"));
            }
        }
        Ok(())
    }

    /// A numeric parameter in `min..=max`: `Ok(None)` when absent or
    /// without a value, an error when the value is not a plain decimal in
    /// range.
    pub fn number(&self, name: &str, min: u8, max: u8) -> Result<Option<u8>, NegotiationError> {
        match self.get(name) {
            None | Some(None) => Ok(None),
            Some(Some(v)) => {
                let n: u8 = v
                    .parse()
                    .ok()
                    .filter(|n| {
                        (min..=max).contains(n) && !v.starts_with('0') && !v.starts_with('+')
                    })
                    .ok_or_else(|| {
                        param_error(
                            self.extension,
                            name,
                            &format!("has value {v:?}, outside {min}..={max}"),
                        )
                    })?;
                Ok(Some(n))
            }
        }
    }

    /// Fail if `name` is present without a value.
    pub fn require_value(&self, name: &str) -> Result<(), NegotiationError> {
        match self.get(name) {
            Some(None) => Err(param_error(self.extension, name, "needs a value")),
            _ => Ok(()),
        }
    }
}

/// The error for a bad parameter.
pub(crate) fn param_error(extension: &str, param: &str, problem: &str) -> NegotiationError {
    NegotiationError::Param {
        extension: extension.to_owned(),
        param: param.to_owned(),
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        let mut o = ExtensionOffer::new("x");
        for (k, v) in params {
            o = o.with_param(*k, v.map(str::to_owned));
        }
        o
    }

    #[test]
    fn unknown_duplicate_and_range_errors() {
        assert!(Params::parse(&offer(&[("zz", None)]), &["a"]).is_err());
        assert!(Params::parse(&offer(&[("a", None), ("A", None)]), &["a"]).is_err());
        let o = offer(&[("a", Some("16")), ("b", Some("08")), ("c", Some("x"))]);
        let p = Params::parse(&o, &["a", "b", "c"]).unwrap();
        assert!(p.number("a", 8, 15).is_err());
        assert!(p.number("b", 8, 15).is_err());
        assert!(p.number("c", 8, 15).is_err());
        assert!(p.expect_flags(&["a"]).is_err());
        let o = offer(&[("a", None)]);
        let p = Params::parse(&o, &["a"]).unwrap();
        assert!(p.require_value("a").is_err());
        assert_eq!(p.number("a", 8, 15), Ok(None));
    }
}
