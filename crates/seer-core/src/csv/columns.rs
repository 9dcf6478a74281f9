//! Which header column plays which role in a long-format CSV file.

use std::collections::HashMap;

use crate::CoreError;

/// A required column: the role it plays (for messages) and its accepted names, lowercase.
struct Role {
    what: &'static str,
    names: [&'static str; 2],
}

const ID: Role = Role {
    what: "series id",
    names: ["series_id", "unique_id"],
};
const TIMESTAMP: Role = Role {
    what: "timestamp",
    names: ["timestamp", "ds"],
};
const VALUE: Role = Role {
    what: "value",
    names: ["value", "y"],
};
const LABEL: &str = "label";

/// Column indices of a header, by role.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Columns {
    pub names: Vec<String>,
    pub id: usize,
    pub timestamp: usize,
    pub value: usize,
    pub label: Option<usize>,
    /// Every other column, in header order.
    pub features: Vec<usize>,
}

impl Columns {
    /// Assigns roles to the (trimmed) header names read from `line`. Names match
    /// case-insensitively; an unnamed, duplicated or ambiguous column is an error, because each
    /// would silently turn into a nameless or shadowed feature otherwise.
    pub fn resolve(names: Vec<String>, line: u64) -> Result<Columns, CoreError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(CoreError::UnnamedColumn { line, index: i + 1 });
            }
            if let Some(&first) = seen.get(&name.to_lowercase()) {
                return Err(CoreError::DuplicateColumn {
                    line,
                    name: name.clone(),
                    other: names[first].clone(),
                });
            }
            seen.insert(name.to_lowercase(), i);
        }

        let find = |role: &Role| -> Result<Option<usize>, CoreError> {
            match role.names.map(|n| seen.get(n).copied()) {
                [Some(a), Some(b)] => Err(CoreError::AmbiguousColumns {
                    line,
                    first: names[a.min(b)].clone(),
                    second: names[a.max(b)].clone(),
                    role: role.what,
                }),
                [a, b] => Ok(a.or(b)),
            }
        };
        let id = find(&ID)?;
        let timestamp = find(&TIMESTAMP)?;
        let value = find(&VALUE)?;
        let (Some(id), Some(timestamp), Some(value)) = (id, timestamp, value) else {
            let missing: Vec<String> = [(id, &ID), (timestamp, &TIMESTAMP), (value, &VALUE)]
                .into_iter()
                .filter(|(found, _)| found.is_none())
                .map(|(_, role)| format!("{} (or {})", role.names[0], role.names[1]))
                .collect();
            return Err(CoreError::MissingColumns {
                missing: missing.join(", "),
                header: names,
            });
        };
        let label = seen.get(LABEL).copied();
        let features = (0..names.len())
            .filter(|&i| i != id && i != timestamp && i != value && Some(i) != label)
            .collect();
        Ok(Columns {
            names,
            id,
            timestamp,
            value,
            label,
            features,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(header: &[&str]) -> Result<Columns, CoreError> {
        Columns::resolve(header.iter().map(|s| s.to_string()).collect(), 1)
    }

    #[test]
    fn resolves_canonical_names() {
        let c = resolve(&["series_id", "timestamp", "value"]).expect("valid");
        assert_eq!((c.id, c.timestamp, c.value, c.label), (0, 1, 2, None));
        assert!(c.features.is_empty());
    }

    #[test]
    fn resolves_aliases_case_insensitively_with_label_and_features() {
        let c = resolve(&["Temp", "DS", "label", "Unique_ID", "y", "humidity"]).expect("valid");
        assert_eq!((c.id, c.timestamp, c.value, c.label), (3, 1, 4, Some(2)));
        assert_eq!(c.features, [0, 5]);
        assert_eq!(c.names[0], "Temp");
    }

    #[test]
    fn missing_columns_are_listed_with_the_header() {
        let err = resolve(&["ds", "foo"]).expect_err("no id, no value");
        assert_eq!(
            err.to_string(),
            "missing required column(s) series_id (or unique_id), value (or y); \
             the header is [\"ds\", \"foo\"]"
        );
    }

    #[test]
    fn unnamed_duplicate_and_ambiguous_columns_are_errors() {
        assert_eq!(
            resolve(&["series_id", "", "timestamp", "value"]),
            Err(CoreError::UnnamedColumn { line: 1, index: 2 })
        );
        let err = resolve(&["series_id", "timestamp", "value", "Value"]).expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "line 1: column \"Value\" appears more than once (also as \"value\")"
        );
        let err = resolve(&["unique_id", "series_id", "ds", "y"]).expect_err("two ids");
        assert_eq!(
            err.to_string(),
            "line 1: columns \"unique_id\" and \"series_id\" both name the series id"
        );
    }
}
