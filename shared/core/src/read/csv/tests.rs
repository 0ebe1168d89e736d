use super::*;

use crate::read::split::{SplitOptions, split_bytes};

/// A record as one line: its line, then each field's text (Rust-quoted), with `@N` when the
/// field starts on a later line than the record and `!` when it is flagged malformed.
fn show(rec: &RecordSpans, buf: &[u8]) -> String {
    let view = rec.view(buf);
    let fields: Vec<String> = (0..view.len())
        .map(|c| {
            let mut s = format!("{:?}", String::from_utf8_lossy(&view.bytes(c)));
            if view.cell_line(c) != view.line() {
                s.push_str(&format!("@{}", view.cell_line(c)));
            }
            if view.cell_malformed(c) {
                s.push('!');
            }
            s
        })
        .collect();
    format!("{}: {}", view.line(), fields.join(" "))
}

/// Every record of a final buffer.
fn parse_with(input: &str, opts: CsvOptions) -> Result<Vec<String>, CsvError> {
    let buf = input.as_bytes();
    let mut parser = CsvParser::new(buf, 1, opts, true);
    let mut rec = RecordSpans::default();
    let mut out = Vec::new();
    loop {
        match parser.next_record(&mut rec)? {
            Step::Record => out.push(show(&rec, buf)),
            Step::End => return Ok(out),
            Step::Incomplete { .. } => panic!("a final buffer is never incomplete: {input:?}"),
        }
    }
}

fn check(input: &str, expected: &[&str]) {
    match parse_with(input, CsvOptions::default()) {
        Ok(records) => assert_eq!(records, expected, "{input:?}"),
        Err(e) => panic!("{input:?}: {e}"),
    }
}

fn check_err(input: &str, opts: CsvOptions, expected: CsvError) {
    assert_eq!(parse_with(input, opts), Err(expected), "{input:?}");
}

#[test]
fn quoted_fields_hold_delimiters_and_doubled_quotes() {
    check("a,b,c\n", &[r#"1: "a" "b" "c""#]);
    check("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", &[r#"1: "a,b" "say \"hi\"" """#]);
    check("\"\"\"\"\n", &[r#"1: "\"""#]);
    check("a\"b,c\"\n", &[r#"1: "a\"b" "c\"""#]);
    check(",,\n", &[r#"1: "" "" """#]);
    check(" \"a\" ,b\n", &[r#"1: " \"a\" " "b""#]);
    check("héllo,wörld\n", &[r#"1: "héllo" "wörld""#]);
}

#[test]
fn every_kind_of_line_break_counts_as_one_physical_line() {
    check("1,\"a\nb\",c\n2,x\n", &[r#"1: "1" "a\nb" "c"@2"#, r#"3: "2" "x""#]);
    check("1,\"a\r\nb\",c\r\n2,x\r\n", &[r#"1: "1" "a\r\nb" "c"@2"#, r#"3: "2" "x""#]);
    check("1,\"a\rb\",c\r2,x\r", &[r#"1: "1" "a\rb" "c"@2"#, r#"3: "2" "x""#]);
    check("a\r\nb\nc\rd", &[r#"1: "a""#, r#"2: "b""#, r#"3: "c""#, r#"4: "d""#]);
    check("1,\"\n\n\r\n\r\",z\nnext\n", &[r#"1: "1" "\n\n\r\n\r" "z"@5"#, r#"6: "next""#]);
    check("\"a\nb\",\"c\nd\",e\n", &[r#"1: "a\nb" "c\nd"@2 "e"@3"#]);
}

#[test]
fn a_trailing_delimiter_at_the_end_of_the_file_adds_an_empty_field() {
    check("a,b,", &[r#"1: "a" "b" """#]);
    check("a,b,\n", &[r#"1: "a" "b" """#]);
    check("1,\"x\ny\",", &[r#"1: "1" "x\ny" ""@2"#]);
    check("1,\"x\ny\",\n", &[r#"1: "1" "x\ny" ""@2"#]);
    // Past the column limit, empty cells end the record; a value there is an error.
    let two = CsvOptions { max_columns: 2, ..CsvOptions::default() };
    for input in ["a,b,", "a,b,\n", "a,b,,, ,\t,", "a,b,,,\r\n"] {
        assert_eq!(parse_with(input, two).unwrap(), [r#"1: "a" "b""#], "{input:?}");
    }
    assert_eq!(parse_with("a,b,,\r\nc,d,,,\re,f\n", two).unwrap(), [r#"1: "a" "b""#, r#"2: "c" "d""#, r#"3: "e" "f""#]);
    check_err("a,b,,x\n", two, CsvError::TooManyColumns { line: 1, limit: 2 });
    check_err("a,b,\"\"\n", two, CsvError::TooManyColumns { line: 1, limit: 2 });
}

#[test]
fn empty_lines_are_records_of_one_empty_field() {
    check("a\n\nb\n", &[r#"1: "a""#, r#"2: """#, r#"3: "b""#]);
    check("\n", &[r#"1: """#]);
    check("\r\n\r\n", &[r#"1: """#, r#"2: """#]);
    check("", &[]);
    check("a", &[r#"1: "a""#]);
    check("a\n", &[r#"1: "a""#]);
    check("\"\"", &[r#"1: """#]);
}

#[test]
fn text_after_a_closing_quote_is_kept_and_flagged_malformed() {
    check("\"ab\"c,d\n", &[r#"1: "abc"! "d""#]);
    check("\"a\"\"b\"x y,z\n", &[r#"1: "a\"bx y"! "z""#]);
    check("\"ab\" ,x\n", &[r#"1: "ab "! "x""#]);
    check("x,\"ab\"c\"d\"\n", &[r#"1: "x" "abcd"!"#]);
    check("\"ab\"c", &[r#"1: "abc"!"#]);
}

#[test]
fn an_unterminated_quote_is_reported_where_it_opens() {
    let d = CsvOptions::default();
    check_err("a,b\n1,\"open\n2,x\n", d, CsvError::UnterminatedQuote { line: 2, column: 2 });
    check_err("\"abc", d, CsvError::UnterminatedQuote { line: 1, column: 1 });
    check_err("x,\"a\"\"", d, CsvError::UnterminatedQuote { line: 1, column: 2 });
    check_err("\"ab\"\"\n", d, CsvError::UnterminatedQuote { line: 1, column: 1 });
    check_err("1,\"a\nb\",\"c\r\nd", d, CsvError::UnterminatedQuote { line: 2, column: 3 });
    check_err("x,y\r\"", d, CsvError::UnterminatedQuote { line: 2, column: 1 });
    let err = parse_with("\"abc", d).unwrap_err();
    assert_eq!(err.line(), 1);
    assert_eq!(err.to_string(), "line 1, column 1: a quoted field starts here and is never closed");
}

#[test]
fn fields_records_and_columns_have_limits() {
    let field4 = CsvOptions { max_field_bytes: 4, ..CsvOptions::default() };
    assert!(parse_with("abcd,\"wxyz\"\n", field4).is_ok());
    check_err("abcde,x\n", field4, CsvError::FieldTooLarge { line: 1, column: 1, limit: 4, quoted: false });
    check_err("x\ny,\"abcde\"\n", field4, CsvError::FieldTooLarge { line: 2, column: 2, limit: 4, quoted: false });
    check_err("\"ab\ncde\"\n", field4, CsvError::FieldTooLarge { line: 1, column: 1, limit: 4, quoted: false });
    check_err("\"ab\"cde\n", field4, CsvError::FieldTooLarge { line: 1, column: 1, limit: 4, quoted: false });
    check_err("x,\"abcdef", field4, CsvError::FieldTooLarge { line: 1, column: 2, limit: 4, quoted: true });

    let record10 = CsvOptions { max_record_bytes: 10, ..CsvOptions::default() };
    assert!(parse_with("aaaa,bbbb\n", record10).is_ok());
    check_err("ok\naaaa,bbbb,cccc\n", record10, CsvError::RecordTooLarge { line: 2, limit: 10, open_quote: None });
    check_err("aaaaaaaaaaa", record10, CsvError::RecordTooLarge { line: 1, limit: 10, open_quote: None });

    let three = CsvOptions { max_columns: 3, ..CsvOptions::default() };
    assert!(parse_with("a,b,c\n", three).is_ok());
    check_err("a,b,c\n1,2,3,4\n", three, CsvError::TooManyColumns { line: 2, limit: 3 });
}

#[test]
fn other_delimiters_are_honoured() {
    let semi = CsvOptions { delimiter: b';', ..CsvOptions::default() };
    assert_eq!(parse_with("a;\"b;c\";1,5\n", semi).unwrap(), [r#"1: "a" "b;c" "1,5""#]);
    let tab = CsvOptions { delimiter: b'\t', ..CsvOptions::default() };
    assert_eq!(parse_with("a\tb c\t\"d\te\"\n", tab).unwrap(), [r#"1: "a" "b c" "d\te""#]);
}

/// What the first call on a non-final buffer returns.
fn first_step(input: &str) -> Step {
    let mut rec = RecordSpans::default();
    let mut parser = CsvParser::new(input.as_bytes(), 1, CsvOptions::default(), false);
    let step = parser.next_record(&mut rec).unwrap();
    if step != Step::Record {
        assert_eq!(parser.position(), 0, "{input:?}: nothing is consumed");
        assert_eq!(parser.line(), 1, "{input:?}: the line does not move");
    }
    step
}

#[test]
fn a_buffer_that_may_continue_never_ends_a_record_early() {
    let check = |input: &str, expected: Step| assert_eq!(first_step(input), expected, "{input:?}");
    let incomplete = Step::Incomplete { open_quote: None };
    check("", Step::End);
    check("a", incomplete);
    check("a,b", incomplete);
    check("a,", incomplete);
    check("a,b\r", incomplete);
    check("a,\"b\"\r", incomplete);
    check("a,\"b\"", Step::Incomplete { open_quote: Some((1, 2)) });
    check("\"b\"\"", Step::Incomplete { open_quote: Some((1, 1)) });
    check("a,\"b\nc", Step::Incomplete { open_quote: Some((1, 2)) });
    check("a,\"b\r", Step::Incomplete { open_quote: Some((1, 2)) });
    check("a\n\"b\r", Step::Record);
    check("a,\"b\"c", incomplete);
    check("a,b\n", Step::Record);
    check("a,b\r\n", Step::Record);
    check("a,b\rc", Step::Record);
    check("a,\"b\"\n", Step::Record);
}

#[test]
fn an_incomplete_record_is_read_whole_once_the_rest_arrives() {
    let whole = b"1,\"x\r\ny\"\r\n2,z\r\n";
    let mut rec = RecordSpans::default();
    for cut in 0..whole.len() {
        let head = &whole[..cut];
        let mut parser = CsvParser::new(head, 7, CsvOptions::default(), false);
        let mut records = Vec::new();
        while let Step::Record = parser.next_record(&mut rec).unwrap() {
            records.push(show(&rec, head));
        }
        // Whatever was read before the cut is a prefix of the whole file's records.
        let expected = [r#"7: "1" "x\r\ny""#, r#"9: "2" "z""#];
        assert_eq!(records, expected[..records.len()], "cut at {cut}");
        let resume = parser.position();
        let mut rest = CsvParser::new(&whole[resume..], parser.line(), CsvOptions::default(), true);
        while let Step::Record = rest.next_record(&mut rec).unwrap() {
            records.push(show(&rec, &whole[resume..]));
        }
        assert_eq!(records, expected, "cut at {cut}");
    }
}

#[test]
fn records_know_their_byte_range() {
    let buf = b"ab,c\r\n\"d\ne\"\nf";
    let mut parser = CsvParser::new(buf, 1, CsvOptions::default(), true);
    let mut rec = RecordSpans::default();
    let mut ranges = Vec::new();
    while let Step::Record = parser.next_record(&mut rec).unwrap() {
        ranges.push((rec.line, rec.start, rec.end));
        assert_eq!(parser.position(), rec.end);
    }
    assert_eq!(ranges, [(1, 0, 6), (2, 6, 12), (4, 12, 13)]);
    assert_eq!(parser.line(), 4);
}

#[test]
fn blank_records_are_those_of_whitespace_only() {
    let check = |input: &str, blank: bool| {
        let mut parser = CsvParser::new(input.as_bytes(), 1, CsvOptions::default(), true);
        let mut rec = RecordSpans::default();
        assert_eq!(parser.next_record(&mut rec).unwrap(), Step::Record);
        assert_eq!(rec.is_blank(input.as_bytes()), blank, "{input:?}");
    };
    check("\n", true);
    check(",,\n", true);
    check(" , \t\n", true);
    check("\"\",\" \"\n", true);
    check(",x\n", false);
    check("\"\"\"\"\n", false);
    check("=\"\",=\" \"\n", true);
    check("=\"\",=\"x\"\n", false);
    // Quoted, as the value reads: `"="""""` is `=""`, blank; `"="""` is `="`, not.
    check("\"=\"\"\"\"\",\"=\"\"\"\"\"\n", true);
    check("\"=\"\"\",\"=\"\"\"\n", false);
}

const TRICKY: &[u8] = b"id,note,amount\r\n\
1,\"two\nlines\",1.5\r\n\
\n\
2,\"a \"\"quoted\"\" word\",2\n\
3,\"cr\ronly\",3\r\
4,\"crlf\r\nin quotes\",\r\n\
\r\n\
5,\"bad\"quote,5\n\
6,plain,6,extra\n\
7,\"ends\nwithout newline\",7";

fn split_opts(chunk_rows: u32) -> SplitOptions {
    SplitOptions {
        csv: CsvOptions::default(),
        chunk_rows,
        max_chunk_bytes: u64::MAX,
        header_row: 1,
        headerless: false,
        start_offset: 0,
    }
}

#[test]
fn chunk_boundaries_do_not_depend_on_how_the_file_is_fed() {
    for chunk_rows in [1, 2, 3, 100] {
        let whole = split_bytes(TRICKY, split_opts(chunk_rows), TRICKY.len()).unwrap();
        assert_eq!(whole.header.names, ["id", "note", "amount"]);
        assert_eq!(whole.records, 9);
        for block in 1..=17 {
            let plan = split_bytes(TRICKY, split_opts(chunk_rows), block).unwrap();
            assert_eq!(plan, whole, "chunk_rows {chunk_rows}, block {block}");
        }
    }
}

#[test]
fn each_chunk_reads_the_same_records_as_the_whole_file() {
    let all = parse_with(std::str::from_utf8(TRICKY).unwrap(), CsvOptions::default()).unwrap();
    assert_eq!(
        all,
        [
            r#"1: "id" "note" "amount""#,
            r#"2: "1" "two\nlines" "1.5"@3"#,
            r#"4: """#,
            r#"5: "2" "a \"quoted\" word" "2""#,
            r#"6: "3" "cr\ronly" "3"@7"#,
            r#"8: "4" "crlf\r\nin quotes" ""@9"#,
            r#"10: """#,
            r#"11: "5" "badquote"! "5""#,
            r#"12: "6" "plain" "6" "extra""#,
            r#"13: "7" "ends\nwithout newline" "7"@14"#,
        ]
    );
    for chunk_rows in [1, 2, 4] {
        let plan = split_bytes(TRICKY, split_opts(chunk_rows), 5).unwrap();
        let mut records = vec![all[0].clone()];
        for chunk in &plan.chunks {
            let bytes = &TRICKY[chunk.start as usize..chunk.end as usize];
            let mut parser = CsvParser::new(bytes, chunk.first_line, CsvOptions::default(), true);
            let mut rec = RecordSpans::default();
            let mut n = 0;
            while let Step::Record = parser.next_record(&mut rec).unwrap() {
                records.push(show(&rec, bytes));
                n += 1;
            }
            assert_eq!(n, chunk.records, "chunk {}", chunk.index);
        }
        assert_eq!(records, all, "chunk_rows {chunk_rows}");
    }
}

#[test]
fn the_simd_utf8_check_gives_std_answers() {
    for bytes in [&b"plain ascii"[..], "Łukasz,Renée".as_bytes(), b"bad \xFF byte", b"cut \xC5", b""] {
        let ours = crate::read::utf8(bytes);
        let std = std::str::from_utf8(bytes);
        assert_eq!(ours, std, "{bytes:?}");
    }
}

#[test]
fn a_field_written_as_excels_text_formula_is_the_text_it_shows() {
    // Unquoted, quoted, empty; anything else that starts with `=` stays as written.
    let input = "=\"01234\",\"=\"\"007\"\"\",=\"\",=\"a\"\"b\",= \"1\",x=\"1\",=\"1\"2,=\"é\"\n";
    check(input, &[r#"1: "01234" "007" "" "=\"a\"\"b\"" "= \"1\"" "x=\"1\"" "=\"1\"2" "é""#]);
    let buf = input.as_bytes();
    let mut parser = CsvParser::new(buf, 1, CsvOptions::default(), true);
    let mut rec = RecordSpans::default();
    assert_eq!(parser.next_record(&mut rec).unwrap(), Step::Record);
    let text = std::str::from_utf8(buf).unwrap();
    let view = CsvRecord { buf, text: Some(text), spans: &rec };
    assert_eq!(view.text(0), Some("01234"));
    assert_eq!(view.text(7), Some("é"));
    assert_eq!(view.cell(0).display(), "01234");
    assert_eq!(view.cell(1).display(), "007");
    assert_eq!(view.cell(2).display(), "");
    assert_eq!(view.cell(6).display(), "=\"1\"2");
}
