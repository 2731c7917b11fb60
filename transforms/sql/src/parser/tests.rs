//! Parser tests: precedence as s-expressions, and the exact error messages.

use super::*;
use crate::ast::Lit;

/// The tree as an s-expression, to check precedence at a glance.
fn sexp(expr: &Expr) -> String {
    let list = |head: &str, items: &[&Expr]| {
        let items: Vec<_> = items.iter().map(|e| sexp(e)).collect();
        format!("({head} {})", items.join(" "))
    };
    match expr {
        Expr::Lit(Lit::Str(s)) => format!("{s:?}"),
        Expr::Lit(Lit::Num(n)) => n.to_string(),
        Expr::Lit(Lit::Bool(b)) => b.to_string(),
        Expr::Lit(Lit::Null) => "null".into(),
        Expr::Field(path) => path.name.clone(),
        Expr::Neg(e) => list("-", &[e]),
        Expr::Call(f, e) => list(&format!("{f:?}").to_lowercase(), &[e]),
        Expr::Cmp(op, l, r) => list(&format!("{op:?}").to_lowercase(), &[l, r]),
        Expr::Not(e) => list("not", &[e]),
        Expr::And(items) => list("and", &items.iter().collect::<Vec<_>>()),
        Expr::Or(items) => list("or", &items.iter().collect::<Vec<_>>()),
        Expr::In { value, list: l, negated } => {
            let mut items = vec![value.as_ref()];
            items.extend(l);
            list(if *negated { "not-in" } else { "in" }, &items)
        }
        Expr::Like { value, negated, .. } => list(if *negated { "not-like" } else { "like" }, &[value]),
        Expr::IsNull { value, negated } => list(if *negated { "is-not-null" } else { "is-null" }, &[value]),
        Expr::IsTruth { value, truth, negated } => {
            let head = format!("is-{}{truth:?}", if *negated { "not-" } else { "" });
            list(&head, &[value])
        }
    }
}

fn tree(src: &str) -> String {
    sexp(&parse(src).unwrap())
}

fn err(src: &str) -> String {
    parse(src).unwrap_err().to_string()
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(tree("a = 1 OR b = 2 AND c = 3"), "(or (eq a 1) (and (eq b 2) (eq c 3)))");
    assert_eq!(tree("(a = 1 OR b = 2) AND c = 3"), "(and (or (eq a 1) (eq b 2)) (eq c 3))");
    assert_eq!(tree("a=1 and b=2 AND c=3"), "(and (eq a 1) (eq b 2) (eq c 3))");
    assert_eq!(tree("a = 1 OR (b = 2 OR c = 3)"), "(or (eq a 1) (or (eq b 2) (eq c 3)))");
}

#[test]
fn not_binds_looser_than_comparisons_and_predicates() {
    assert_eq!(tree("NOT a = 1"), "(not (eq a 1))");
    assert_eq!(tree("not a = 1 AND b"), "(and (not (eq a 1)) b)");
    assert_eq!(tree("NOT a IS NULL"), "(not (is-null a))");
    assert_eq!(tree("NOT NOT a"), "(not (not a))");
    assert_eq!(tree("!a = 1 OR b"), "(or (not (eq a 1)) b)");
    assert_eq!(tree("NOT (a OR b)"), "(not (or a b))");
}

#[test]
fn reads_every_comparison_operator() {
    let ops = [
        ("=", "eq"),
        ("==", "eq"),
        ("!=", "ne"),
        ("<>", "ne"),
        ("<", "lt"),
        ("<=", "le"),
        (">", "gt"),
        (">=", "ge"),
        ("<=>", "nullsafeeq"),
    ];
    for (op, name) in ops {
        assert_eq!(tree(&format!("a {op} 1")), format!("({name} a 1)"), "{op}");
    }
    assert_eq!(tree("a = 1 = true"), "(eq (eq a 1) true)");
    assert_eq!(tree("x = 1 IS NULL"), "(is-null (eq x 1))");
}

#[test]
fn reads_predicates() {
    assert_eq!(tree("a IN (1, 'x', NULL)"), r#"(in a 1 "x" null)"#);
    assert_eq!(tree("a NOT IN (1)"), "(not-in a 1)");
    assert_eq!(tree("a BETWEEN 1 AND 5 AND b"), "(and (and (ge a 1) (le a 5)) b)");
    assert_eq!(tree("a NOT BETWEEN -1 AND 1"), "(not (and (ge a -1) (le a 1)))");
    assert_eq!(tree("a LIKE 'x%'"), "(like a)");
    assert_eq!(tree("a NOT LIKE 'x%' ESCAPE '/'"), "(not-like a)");
    assert_eq!(tree("a IS NOT NULL"), "(is-not-null a)");
    assert_eq!(tree("a IS TRUE"), "(is-Some(true) a)");
    assert_eq!(tree("a IS NOT UNKNOWN"), "(is-not-None a)");
    assert_eq!(tree("a IS DISTINCT FROM b"), "(not (nullsafeeq a b))");
    assert_eq!(tree("a IS NOT DISTINCT FROM 1"), "(nullsafeeq a 1)");
}

#[test]
fn reads_values() {
    assert_eq!(tree("-a = -5"), "(eq (- a) -5)");
    assert_eq!(tree("a = - -5"), "(eq a 5)");
    assert_eq!(tree("a = +5"), "(eq a 5)");
    assert_eq!(tree("a = -9223372036854775808"), "(eq a -9223372036854775808)");
    assert_eq!(tree("a = -'5'"), r#"(eq a (- "5"))"#);
    assert_eq!(tree("a = 'x' 'y'"), r#"(eq a "xy")"#);
    assert_eq!(tree("a = TRUE OR b = false OR c = Null"), "(or (eq a true) (eq b false) (eq c null))");
    assert_eq!(tree("UPPER(a) = lcase(b)"), "(eq (upper a) (lower b))");
    assert_eq!(tree("length(a) > 3"), "(gt (length a) 3)");
}

#[test]
fn reads_paths() {
    assert_eq!(tree("DeliveryAddress.City = 'Pune'"), r#"(eq DeliveryAddress.City "Pune")"#);
    let Expr::Cmp(_, left, _) = parse("`Store ID`.`a.b`.c = 1").unwrap() else { panic!() };
    let Expr::Field(path) = *left else { panic!() };
    assert_eq!(path, Path::new(vec!["Store ID".into(), "a.b".into(), "c".into()], "`Store ID`.`a.b`.c".into()));
    assert_eq!(tree("a.in = 1"), "(eq a.in 1)", "keywords are names after a dot");
    assert_eq!(tree("`NULL` IS NULL"), "(is-null `NULL`)");
    assert_eq!(tree("escape = distinct"), "(eq escape distinct)", "contextual words are names");
}

#[test]
fn points_at_syntax_errors() {
    let cases = [
        ("StoreID = ", "expected a value after '=' at column 11, found the end of the expression: StoreID ="),
        ("a = AND b", "expected a value after '=' at column 5, found 'AND': a = AND b"),
        ("a = 1 AND", "expected a value after 'AND' at column 10, found the end of the expression: a = 1 AND"),
        ("(a = 1", "unclosed '(' at column 1: (a = 1"),
        ("(a = 1 b)", "expected an operator, AND, OR or ')' at column 8, found the name b: (a = 1 b)"),
        ("a = 1)", "unmatched ')' at column 6: a = 1)"),
        (
            "StoreID 'STR7188'",
            "expected an operator, AND, OR or the end of the expression at column 9, \
             found the string 'STR7188': StoreID 'STR7188'",
        ),
        ("a IN 1", "expected '(' after IN at column 6, found the number 1: a IN 1"),
        ("a IN (1, 2", "expected ',' or ')' in the IN list at column 11, found the end of the expression: a IN (1, 2"),
        ("a IN ()", "IN needs at least one value at column 7: a IN ()"),
        ("a NOT b", "expected IN, BETWEEN or LIKE after NOT at column 7, found the name b: a NOT b"),
        ("a BETWEEN 1 OR 2", "expected AND between the bounds of BETWEEN at column 13, found 'OR': a BETWEEN 1 OR 2"),
        (
            "a IS 5",
            "expected NULL, TRUE, FALSE, UNKNOWN or DISTINCT FROM after IS at column 6, found the number 5: a IS 5",
        ),
        ("a IS DISTINCT b", "expected FROM after DISTINCT at column 15, found the name b: a IS DISTINCT b"),
        ("a LIKE b", "expected a string pattern after LIKE at column 8, found the name b: a LIKE b"),
        (
            r"a LIKE 'x\\y'",
            r"invalid LIKE pattern at column 8, the escape character '\' may not precede 'y': a LIKE 'x\\y'",
        ),
        (
            "a LIKE 'x' ESCAPE 'ab'",
            "expected a one-character string after ESCAPE at column 19, found the string 'ab': a LIKE 'x' ESCAPE 'ab'",
        ),
        ("a RLIKE 'x'", "RLIKE is not supported at column 3, use LIKE, which is case-sensitive: a RLIKE 'x'"),
        ("a. = 1", "expected a field name after '.' at column 4, found '=': a. = 1"),
        ("a + 1 > 2", "operator '+' is not supported (there is no arithmetic) at column 3: a + 1 > 2"),
        ("a > b - 1", "operator '-' is not supported (there is no arithmetic) at column 7: a > b - 1"),
    ];
    for (src, message) in cases {
        assert_eq!(err(src), message, "{src}");
    }
}

#[test]
fn points_at_unknown_functions() {
    assert_eq!(
        err("foo(x) = 1"),
        "unknown function foo at column 1, the functions supported are lower, upper and length: foo(x) = 1"
    );
    assert_eq!(err("lower(a, b) = 'x'"), "lower takes exactly one argument at column 1, found 2: lower(a, b) = 'x'");
    assert_eq!(err("upper() = 'x'"), "upper takes exactly one argument at column 1, found 0: upper() = 'x'");
}

#[test]
fn refuses_non_conditions_where_a_condition_goes() {
    let cases = [
        (
            "5 AND a = 1",
            "expected a condition on each side of AND at column 1, found 5, which is a number: 5 AND a = 1",
        ),
        ("a OR 'x'", "expected a condition on each side of OR at column 6, found 'x', which is a string: a OR 'x'"),
        ("NOT lower(a)", "expected a condition after NOT at column 5, found lower(a), which is a string: NOT lower(a)"),
        ("'a' IS TRUE", "expected a condition before IS TRUE at column 1, found 'a', which is a string: 'a' IS TRUE"),
    ];
    for (src, message) in cases {
        assert_eq!(err(src), message, "{src}");
    }
}

#[test]
fn where_must_be_a_condition() {
    let condition_err = |src: &str| parse_condition(src).unwrap_err().to_string();
    assert_eq!(
        condition_err("StoreID"),
        "expected a condition, found the field StoreID; compare it, e.g. StoreID = 'value', \
         or StoreID = true if it holds booleans"
    );
    assert_eq!(condition_err(" 'STR7188' "), "expected a condition, but 'STR7188' is a string");
    assert_eq!(condition_err("upper(StoreID)"), "expected a condition, but upper(StoreID) is a string");
    assert_eq!(condition_err("-42"), "expected a condition, but -42 is a number");
    for fine in ["TRUE", "NULL", "a = 1", "NOT a", "a AND b", "(a)IS TRUE"] {
        assert!(parse_condition(fine).is_ok(), "{fine}");
    }
}

#[test]
fn limits_nesting() {
    let deep = format!("{}a = 1{}", "(".repeat(70), ")".repeat(70));
    assert_eq!(
        err(&deep),
        "expression nested more than 64 levels deep at column 65: \
         ...((((((((((((((((((((((((((((((((((((a = 1)))))))))))))))))))..."
    );
    let nots = format!("{}a", "NOT ".repeat(100));
    assert!(err(&nots).starts_with("expression nested more than 64 levels deep at column 257"));
    let chain = format!("a{}", " = 1".repeat(100));
    assert!(err(&chain).starts_with("expression nested more than 64 levels deep"));
    assert!(parse(&format!("{}a = 1{}", "(".repeat(60), ")".repeat(60))).is_ok());
    assert!(parse(&vec!["a = 1"; 10_000].join(" AND ")).is_ok(), "long flat chains are fine");
}
