//! `--format '{{.Field}}'` for `ls` and `inspect`, as the docker CLI's
//! commands take it: each `{{.Name}}` (a dotted path into the JSON that
//! `--format json` prints; names match regardless of case and of `_`, so
//! `{{.Container}}` and `{{.criu_version}}` both work), `{{json .X}}` for a
//! value as JSON, `{{json .}}` for the whole object; `\t` and `\n` as in
//! Docker. Not Go's whole template language: no conditionals or functions
//! beyond `json`. A name that is not there prints `<no value>`, as Go's
//! templates do. Pure.

use serde_json::Value;

fn norm(s: &str) -> String {
    s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

/// The value at a dotted path (".A.b"; "." is the whole value).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()) {
        let obj = cur.as_object()?;
        let want = norm(part);
        cur = obj.iter().find(|(k, _)| norm(k) == want).map(|(_, v)| v)?;
    }
    Some(cur)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// Whether a --format value is a template rather than a format name.
pub fn is_template(f: &str) -> bool {
    f.contains("{{")
}

/// Renders `template` for `v`.
pub fn render(template: &str, v: &Value) -> Result<String, String> {
    let t = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = t.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed '{{{{' in the format {template:?}"))?;
        let action = after[..end].trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        if !path.starts_with('.') {
            return Err(format!("cannot use {{{{{action}}}}}: write {{{{.Field}}}} or {{{{json .Field}}}}"));
        }
        match lookup(v, path) {
            Some(x) if json => out.push_str(&x.to_string()),
            Some(x) => out.push_str(&plain(x)),
            None => out.push_str("<no value>"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_paths_and_json() {
        let v =
            json!({"container": "web", "name": "20261128T1", "criu_version": "4.2.1", "sizes": {"pages_bytes": 42}});
        assert_eq!(render("{{.Container}}/{{.Name}}", &v).unwrap(), "web/20261128T1");
        assert_eq!(render("{{.criu_version}}\\t{{.CriuVersion}}", &v).unwrap(), "4.2.1\t4.2.1");
        assert_eq!(render("{{.Sizes.PagesBytes}} {{json .sizes}}", &v).unwrap(), "42 {\"pages_bytes\":42}");
        assert_eq!(render("{{.Nope}}", &v).unwrap(), "<no value>");
        assert_eq!(render("{{json .}}", &json!({"a": 1})).unwrap(), "{\"a\":1}");
        assert!(render("{{.Name", &v).unwrap_err().contains("unclosed"));
        assert!(render("{{upper .Name}}", &v).unwrap_err().contains("cannot use"));
        assert!(is_template("{{.Name}}") && !is_template("json"));
    }
}
