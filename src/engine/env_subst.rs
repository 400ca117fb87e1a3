//! Deployment-environment values in rule globs: `{env:NAME|default}` is the variable's value
//! (or the default), `{env-module:NAME|default}` the same without a trailing `.py`, as the
//! inference toolkit turns `SAGEMAKER_PROGRAM=serve.py` into the module `serve`
//! (aws/sagemaker-inference-toolkit `environment.py` `Environment._parse_module_name`).

/// `pattern` with its placeholders filled from `env`; `None` when a variable is unset and has
/// no default (the pattern then names nothing). Values are glob-escaped.
pub fn fill(pattern: &str, env: &[(String, String)]) -> Option<String> {
    substitute(pattern, env, true)
}

/// Text (a plan value) with its placeholders filled, values as they are.
pub fn fill_text(text: &str, env: &[(String, String)]) -> Option<String> {
    substitute(text, env, false)
}

fn substitute(pattern: &str, env: &[(String, String)], glob: bool) -> Option<String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("{env") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 1..start + len];
        let (strip_py, spec) = if let Some(spec) = inner.strip_prefix("env-module:") {
            (true, spec)
        } else if let Some(spec) = inner.strip_prefix("env:") {
            (false, spec)
        } else {
            out.push_str(&rest[..start + len + 1]);
            rest = &rest[start + len + 1..];
            continue;
        };
        let (name, default) = spec.split_once('|').map_or((spec, None), |(n, d)| (n, Some(d)));
        let value = env.iter().find(|(key, _)| key == name).map(|(_, v)| v.as_str()).or(default)?;
        let value = if strip_py { value.strip_suffix(".py").unwrap_or(value) } else { value };
        out.push_str(&rest[..start]);
        out.push_str(&if glob { escape(value) } else { value.to_string() });
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Whether a glob uses a deployment variable.
pub fn uses_env(pattern: &str) -> bool {
    pattern.contains("{env:") || pattern.contains("{env-module:")
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "*?[]{}\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_values_defaults_and_modules() {
        let env = vec![("SAGEMAKER_PROGRAM".to_string(), "serve.py".to_string())];
        assert_eq!(fill("code/{env-module:SAGEMAKER_PROGRAM|inference}.py", &env).as_deref(), Some("code/serve.py"));
        assert_eq!(fill("code/{env-module:SAGEMAKER_PROGRAM|inference}.py", &[]).as_deref(), Some("code/inference.py"));
        assert_eq!(fill("{env:SAGEMAKER_TRITON_DEFAULT_MODEL_NAME}/config.pbtxt", &[]), None);
        assert_eq!(fill("{env:X}", &[("X".into(), "a*b".into())]).as_deref(), Some("a\\*b"));
        assert_eq!(fill("{a,b}.py", &[]).as_deref(), Some("{a,b}.py"));
    }
}
