use super::*;

const NEW_YEAR_2024: i64 = 1_704_067_200;

fn read(text: &str) -> Result<Dataset, CoreError> {
    read_long_csv(text.as_bytes())
}

fn err(text: &str) -> String {
    match read(text) {
        Ok(d) => panic!("expected an error, read {d:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_series_in_first_appearance_order_sorted_by_time() {
    let d = read(
        "series_id,timestamp,value\n\
         b,2024-01-01T01:00:00Z,2\n\
         a,2024-01-01T00:00:00Z,10\n\
         b,2024-01-01T00:00:00Z,1\n",
    )
    .expect("valid");
    assert!(d.feature_names.is_empty());
    let ids: Vec<&str> = d.series.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(
        d.series[0].timestamps,
        [NEW_YEAR_2024, NEW_YEAR_2024 + 3600]
    );
    assert_eq!(d.series[0].values, [1.0, 2.0]);
    assert_eq!(d.series[1].values, [10.0]);
    assert_eq!(d.series[0].label, None);
    assert!(d.series[0].features.is_empty());
}

#[test]
fn nixtla_names_any_case_and_integer_timestamps() {
    let d = read("Unique_ID,DS,Y\nx,0,1.5\nx,60,-2e3\n").expect("valid");
    assert_eq!(d.series[0].timestamps, [0, 60]);
    assert_eq!(d.series[0].values, [1.5, -2000.0]);
}

#[test]
fn extra_columns_are_features_aligned_with_sorted_points() {
    let d = read(
        "temp,series_id,timestamp,value,hum\n\
         20.5,a,120,1,\n\
         19,a,60,2,NaN\n",
    )
    .expect("valid");
    assert_eq!(d.feature_names, ["temp", "hum"]);
    let s = &d.series[0];
    assert_eq!(s.timestamps, [60, 120]);
    assert_eq!(s.features[0], [19.0, 20.5]);
    assert!(s.features[1].iter().all(|v| v.is_nan()));
}

#[test]
fn missing_and_non_finite_values_are_nan() {
    let d = read(
        "series_id,timestamp,value\n\
         a,1,\n a,2,NaN\n a,3,nan\n a,4,inf\n a,5,-inf\n a,6,Infinity\n a,7, 3 \n",
    )
    .expect("valid");
    let v = &d.series[0].values;
    assert!(v[..6].iter().all(|x| x.is_nan()), "{v:?}");
    assert_eq!(v[6], 3.0);
}

#[test]
fn duplicate_timestamps_keep_the_last_row() {
    let d = read(
        "series_id,timestamp,value,f\n\
         a,2024-01-01,1,10\n\
         a,2024-01-02,2,20\n\
         a,1704067200,3,30\n",
    )
    .expect("valid");
    let s = &d.series[0];
    assert_eq!(s.timestamps, [NEW_YEAR_2024, NEW_YEAR_2024 + 86_400]);
    assert_eq!(s.values, [3.0, 2.0]);
    assert_eq!(s.features[0], [30.0, 20.0]);
}

#[test]
fn label_is_the_last_non_empty_one() {
    let d = read(
        "series_id,timestamp,value,label\n\
         a,1,1,up\n a,2,1,down\n a,3,1,\n b,1,1,\n",
    )
    .expect("valid");
    assert_eq!(d.series[0].label.as_deref(), Some("down"));
    assert_eq!(d.series[1].label, None);
    assert!(d.feature_names.is_empty());
}

#[test]
fn quoted_fields_bom_and_crlf_are_handled() {
    let d = read("\u{feff}series_id,timestamp,value\r\n\"a,1\",\"2024-01-01 00:00\",\"4\"\r\n")
        .expect("valid");
    assert_eq!(d.series[0].id, "a,1");
    assert_eq!(d.series[0].timestamps, [NEW_YEAR_2024]);
    assert_eq!(d.series[0].values, [4.0]);
}

#[test]
fn bad_number_names_line_column_and_text() {
    let text = "series_id,timestamp,value\na,1,1\na,2,2\na,3,abc\n";
    assert_eq!(
        err(text),
        "line 4: column \"value\": cannot parse \"abc\" as a number"
    );
    let text = "series_id,timestamp,value,Temp\na,1,1,2\na,2,2,warm\n";
    assert_eq!(
        err(text),
        "line 3: column \"Temp\": cannot parse \"warm\" as a number"
    );
}

#[test]
fn bad_timestamp_names_line_and_column() {
    let text = "unique_id,ds,y\na,2024-13-01,1\n";
    assert_eq!(
        err(text),
        "line 2: column \"ds\": cannot parse \"2024-13-01\" as a timestamp"
    );
    let text = "unique_id,ds,y\na,,1\n";
    assert_eq!(
        err(text),
        "line 2: column \"ds\": cannot parse \"\" as a timestamp"
    );
}

#[test]
fn wrong_field_count_names_the_line() {
    let text = "series_id,timestamp,value\na,1,1\na,2\n";
    assert_eq!(
        err(text),
        "line 3: expected 3 fields as in the header, found 2"
    );
    let text = "series_id,timestamp,value\na,1,1,9\n";
    assert_eq!(
        err(text),
        "line 2: expected 3 fields as in the header, found 4"
    );
}

#[test]
fn line_numbers_count_crlf_endings_and_skipped_blank_lines() {
    // The csv crate alone says line 1 and line 2 here: its record position is taken before the
    // `\n` of `\r\n` and before the blank lines it skips.
    assert_eq!(
        err("series_id,timestamp,value\r\na,0,1,1\r\n"),
        "line 2: expected 3 fields as in the header, found 4"
    );
    assert_eq!(
        err("series_id,timestamp,value\n\n\r\n\na,1,x\n"),
        "line 5: column \"value\": cannot parse \"x\" as a number"
    );
    assert_eq!(
        err("\r\n\r\nseries_id,series_id\r\n"),
        "line 3: column \"series_id\" appears more than once (also as \"series_id\")"
    );
}

#[test]
fn line_numbers_count_physical_lines_of_multiline_fields() {
    // The quoted id spans lines 2 and 3, so the bad row starts on line 4.
    let text = "series_id,timestamp,value\n\"a\nb\",1,1\na,2,x\n";
    assert_eq!(
        err(text),
        "line 4: column \"value\": cannot parse \"x\" as a number"
    );
}

#[test]
fn empty_series_id_names_the_line() {
    let text = "series_id,timestamp,value\na,1,1\n ,2,2\n";
    assert_eq!(err(text), "line 3: empty series id");
}

#[test]
fn missing_columns_are_named_with_the_header() {
    let text = "id,timestamp,y\na,1,1\n";
    assert_eq!(
        err(text),
        "missing required column(s) series_id (or unique_id); \
         the header is [\"id\", \"timestamp\", \"y\"]"
    );
}

#[test]
fn empty_input_and_header_only_are_errors() {
    assert_eq!(read(""), Err(CoreError::EmptyInput));
    assert_eq!(read("\n\n"), Err(CoreError::EmptyInput));
    assert_eq!(read("series_id,timestamp,value\n"), Err(CoreError::NoRows));
    assert_eq!(read("series_id,timestamp,value"), Err(CoreError::NoRows));
    assert_eq!(err(""), "empty input: no header line");
    assert_eq!(
        err("series_id,timestamp,value\n"),
        "no data rows after the header"
    );
}

#[test]
fn blank_lines_are_skipped() {
    let d = read("series_id,timestamp,value\n\na,1,1\n\na,2,2\n").expect("valid");
    assert_eq!(d.series[0].values, [1.0, 2.0]);
}

#[test]
fn invalid_utf8_names_the_line() {
    let bytes: &[u8] = b"series_id,timestamp,value\na,1,1\n\xff,2,2\n";
    let e = read_long_csv(bytes).expect_err("bad utf-8");
    assert_eq!(e.to_string(), "line 3: field 1 is not valid utf-8");
}

#[test]
fn read_errors_are_reported() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let e = read_long_csv(Failing).expect_err("io error");
    assert!(matches!(e, CoreError::Read(_)), "{e:?}");
    assert!(e.to_string().contains("disk on fire"), "{e}");
}

#[test]
fn parse_number_accepts_rust_float_syntax_only() {
    assert_eq!(parse_number("1"), Some(1.0));
    assert_eq!(parse_number("-1.5e-3"), Some(-0.0015));
    assert_eq!(parse_number(".5"), Some(0.5));
    assert!(parse_number("").is_some_and(f64::is_nan));
    assert!(parse_number("-Infinity").is_some_and(f64::is_nan));
    assert!(parse_number("1e999").is_some_and(f64::is_nan));
    assert_eq!(parse_number("1,5"), None);
    assert_eq!(parse_number("NA"), None);
    assert_eq!(parse_number("0x10"), None);
}
