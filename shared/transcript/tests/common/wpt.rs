//! The web-platform-tests `.test` format (see tests/corpus/wpt-webvtt/README.md): a title,
//! HTML metadata, JS assertions up to `===`, then the WebVTT body with escapes.
//!
//! The JS is run by a tiny interpreter that knows what these files use: `var`, `for` loops
//! over a counter, array literals, `.forEach(function (x, i) {…})`, `Array.from(cues)`, `+`,
//! and `assert_*` calls. `cues[i].id`, `.text`, `.startTime`, `.endTime` and `cues.length`
//! are checked; an assertion about anything else (settings, regions, style sheets, which a
//! transcript does not keep) is counted as skipped under that property's name.
use std::collections::BTreeMap;

pub struct CueView {
    pub id: String,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Default, Debug)]
pub struct Outcome {
    pub passed: usize,
    pub failures: Vec<String>,
    pub skipped: BTreeMap<String, usize>,
}

/// (JS, unescaped WebVTT body).
pub fn split(test_file: &str) -> (String, String) {
    let mut js = String::new();
    let mut lines = test_file.split('\n');
    let _title = lines.next();
    // Metadata until a blank line.
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
    }
    for l in lines.by_ref() {
        if l == "===" {
            break;
        }
        js.push_str(l);
        js.push('\n');
    }
    let body: Vec<&str> = lines.collect();
    (js, unescape(&body.join("\n")))
}

/// Python's `unicode_escape`, which the WPT generator applies to the body.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
            let h: String = (0..n).filter_map(|_| it.next()).collect();
            u32::from_str_radix(&h, 16).ok().and_then(char::from_u32)
        };
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0C'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0B'),
            'x' => out.extend(hex(&mut it, 2)),
            'u' => out.extend(hex(&mut it, 4)),
            'U' => out.extend(hex(&mut it, 8)),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(v));
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Id(String),
    P(&'static str),
}

fn tokenize(js: &str) -> Vec<Tok> {
    const PUNCT: &[&str] = &[
        "===", "!==", "++", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ";", ".",
        "+", "-", "*", "<", ">", "=", "!",
    ];
    let b = js.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if js[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            let s = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'e') {
                i += 1;
            }
            toks.push(Tok::Num(js[s..i].parse().unwrap_or(f64::NAN)));
        } else if c == b'"' || c == b'\'' {
            let s = i + 1;
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            toks.push(Tok::Str(unescape(&js[s..i.min(b.len())])));
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            toks.push(Tok::Id(js[s..i].to_owned()));
        } else {
            let p = PUNCT.iter().find(|p| js[i..].starts_with(**p));
            match p {
                Some(p) => {
                    toks.push(Tok::P(p));
                    i += p.len();
                }
                None => i += 1,
            }
        }
    }
    toks
}

#[derive(Debug, Clone)]
enum V {
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
    Arr(Vec<V>),
    Cues,
    Cue(usize),
    Func(Vec<String>, Vec<Tok>, Env),
    ArrayNs,
    ArrayFrom,
    Builtin(String),
    Missing(String),
    Unsupported(String),
}

fn show(v: &V) -> String {
    match v {
        V::Num(n) => format!("{n}"),
        V::Str(s) => format!("{s:?}"),
        V::Bool(b) => b.to_string(),
        V::Null => "null".into(),
        V::Missing(m) => m.clone(),
        other => format!("{other:?}"),
    }
}

type Env = Vec<(String, V)>;

struct Interp<'c> {
    cues: &'c [CueView],
    out: Outcome,
    steps: usize,
    ret: Option<V>,
}

pub fn run(js: &str, cues: &[CueView]) -> Outcome {
    let toks = tokenize(js);
    let mut it = Interp {
        cues,
        out: Outcome::default(),
        steps: 0,
        ret: None,
    };
    let mut env = Env::new();
    it.block(&toks, &mut env);
    it.out
}

fn close(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::P("(" | "[" | "{") => depth += 1,
            Tok::P(")" | "]" | "}") => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

impl Interp<'_> {
    fn block(&mut self, toks: &[Tok], env: &mut Env) {
        let mut i = 0;
        while i < toks.len() {
            let mut depth = 0i32;
            let mut j = i;
            while j < toks.len() {
                match &toks[j] {
                    Tok::P("(" | "[" | "{") => depth += 1,
                    Tok::P(")" | "]" | "}") => {
                        depth -= 1;
                        if depth == 0
                            && toks[j] == Tok::P("}")
                            && !matches!(toks.get(j + 1), Some(Tok::P(")" | "." | "," | ";")))
                        {
                            j += 1;
                            break;
                        }
                    }
                    Tok::P(";") if depth == 0 => {
                        j += 1;
                        break;
                    }
                    _ => {}
                }
                j += 1;
            }
            let mut stmt = &toks[i..j.min(toks.len())];
            if let Some((Tok::P(";"), rest)) = stmt.split_last() {
                stmt = rest;
            }
            self.statement(stmt, env);
            i = j;
        }
    }

    fn statement(&mut self, s: &[Tok], env: &mut Env) {
        self.steps += 1;
        if s.is_empty() || self.steps > 100_000 {
            return;
        }
        match (&s[0], s.get(1), s.get(2)) {
            (Tok::Id(k), Some(Tok::Id(name)), Some(Tok::P("="))) if k == "var" => {
                let v = self.expr(&s[3..], env);
                env.push((name.clone(), v));
            }
            (Tok::Id(k), Some(Tok::P("(")), _) if k == "for" => self.for_loop(s, env),
            (Tok::Id(k), _, _) if k == "return" => {
                let v = self.expr(&s[1..], env);
                self.ret = Some(v);
            }
            _ => {
                self.expr(s, env);
            }
        }
    }

    /// `for (var i = A; i < B; i++) { body }`
    fn for_loop(&mut self, s: &[Tok], env: &mut Env) {
        let head_end = close(s, 1);
        let head = &s[2..head_end];
        let parts: Vec<&[Tok]> = head.split(|t| *t == Tok::P(";")).collect();
        let (Some(init), Some(cond)) = (parts.first(), parts.get(1)) else {
            return;
        };
        let (Some(Tok::Id(var)), Some(Tok::P("="))) = (init.get(1), init.get(2)) else {
            return;
        };
        let V::Num(from) = self.expr(&init[3..], env) else {
            return;
        };
        let V::Num(to) = self.expr(&cond[2..], env) else {
            return;
        };
        let body_open = head_end + 1;
        let body = &s[body_open + 1..close(s, body_open)];
        let mut i = from;
        while i < to && i < from + 10_000.0 {
            let mut inner = env.clone();
            inner.push((var.clone(), V::Num(i)));
            self.block(body, &mut inner);
            i += 1.0;
        }
    }

    fn expr(&mut self, s: &[Tok], env: &Env) -> V {
        let mut pos = 0;
        let v = self.additive(s, &mut pos, env);
        if pos < s.len() {
            return V::Unsupported(format!("syntax near {:?}", s.get(pos)));
        }
        v
    }

    fn additive(&mut self, s: &[Tok], pos: &mut usize, env: &Env) -> V {
        let mut v = self.unary(s, pos, env);
        while let Some(Tok::P(op @ ("+" | "-" | "*"))) = s.get(*pos) {
            *pos += 1;
            let r = self.unary(s, pos, env);
            v = match (v, r, *op) {
                (u @ V::Unsupported(_), _, _) | (_, u @ V::Unsupported(_), _) => u,
                (V::Num(a), V::Num(b), "+") => V::Num(a + b),
                (V::Num(a), V::Num(b), "-") => V::Num(a - b),
                (V::Num(a), V::Num(b), "*") => V::Num(a * b),
                (V::Str(a), b, "+") => V::Str(a + &js_string(&b)),
                (a, V::Str(b), "+") => V::Str(js_string(&a) + &b),
                _ => V::Unsupported("arithmetic".into()),
            };
        }
        v
    }

    fn unary(&mut self, s: &[Tok], pos: &mut usize, env: &Env) -> V {
        match s.get(*pos) {
            Some(Tok::P("-")) => {
                *pos += 1;
                match self.unary(s, pos, env) {
                    V::Num(n) => V::Num(-n),
                    other => other,
                }
            }
            Some(Tok::P("!")) => {
                *pos += 1;
                match self.unary(s, pos, env) {
                    u @ V::Unsupported(_) => u,
                    v => V::Bool(!truthy(&v)),
                }
            }
            _ => self.postfix(s, pos, env),
        }
    }

    fn args(&mut self, s: &[Tok], pos: &mut usize, env: &Env) -> Vec<V> {
        // At `(`.
        let end = close(s, *pos);
        let inner = &s[*pos + 1..end];
        *pos = end + 1;
        let mut out = Vec::new();
        let mut depth = 0i32;
        let mut start = 0;
        for (k, t) in inner.iter().enumerate() {
            match t {
                Tok::P("(" | "[" | "{") => depth += 1,
                Tok::P(")" | "]" | "}") => depth -= 1,
                Tok::P(",") if depth == 0 => {
                    out.push(self.expr(&inner[start..k], env));
                    start = k + 1;
                }
                _ => {}
            }
        }
        if start < inner.len() {
            out.push(self.expr(&inner[start..], env));
        }
        out
    }

    fn postfix(&mut self, s: &[Tok], pos: &mut usize, env: &Env) -> V {
        let mut v = self.primary(s, pos, env);
        loop {
            match s.get(*pos) {
                Some(Tok::P(".")) => {
                    let Some(Tok::Id(name)) = s.get(*pos + 1) else {
                        return V::Unsupported("member".into());
                    };
                    *pos += 2;
                    if s.get(*pos) == Some(&Tok::P("(")) {
                        let args = self.args(s, pos, env);
                        v = self.method(v, name, args);
                    } else {
                        v = self.property(v, name);
                    }
                }
                Some(Tok::P("[")) => {
                    let end = close(s, *pos);
                    let idx = self.expr(&s[*pos + 1..end], env);
                    *pos = end + 1;
                    v = match (v, idx) {
                        (u @ V::Unsupported(_), _) | (_, u @ V::Unsupported(_)) => u,
                        (V::Cues, V::Num(n)) => V::Cue(n as usize),
                        (V::Arr(a), V::Num(n)) => a
                            .get(n as usize)
                            .cloned()
                            .unwrap_or(V::Unsupported("index".into())),
                        _ => V::Unsupported("index".into()),
                    };
                }
                Some(Tok::P("(")) => {
                    let args = self.args(s, pos, env);
                    v = self.call(v, args);
                }
                _ => return v,
            }
        }
    }

    fn primary(&mut self, s: &[Tok], pos: &mut usize, env: &Env) -> V {
        let Some(t) = s.get(*pos) else {
            return V::Unsupported("empty expression".into());
        };
        *pos += 1;
        match t {
            Tok::Num(n) => V::Num(*n),
            Tok::Str(x) => V::Str(x.clone()),
            Tok::P("(") => {
                let end = close(s, *pos - 1);
                let v = self.expr(&s[*pos..end], env);
                *pos = end + 1;
                v
            }
            Tok::P("[") => {
                *pos -= 1;
                let items = {
                    let end = close(s, *pos);
                    let inner_start = *pos;
                    let mut p = inner_start;
                    // Reuse the argument splitter on a bracketed list.
                    let mut items = Vec::new();
                    let inner = &s[p + 1..end];
                    let mut depth = 0i32;
                    let mut start = 0;
                    for (k, t) in inner.iter().enumerate() {
                        match t {
                            Tok::P("(" | "[" | "{") => depth += 1,
                            Tok::P(")" | "]" | "}") => depth -= 1,
                            Tok::P(",") if depth == 0 => {
                                items.push(self.expr(&inner[start..k], env));
                                start = k + 1;
                            }
                            _ => {}
                        }
                    }
                    if start < inner.len() {
                        items.push(self.expr(&inner[start..], env));
                    }
                    p = end + 1;
                    *pos = p;
                    items
                };
                V::Arr(items)
            }
            Tok::Id(id) => match id.as_str() {
                "function" => {
                    let params_end = close(s, *pos);
                    let params = s[*pos + 1..params_end]
                        .iter()
                        .filter_map(|t| match t {
                            Tok::Id(p) => Some(p.clone()),
                            _ => None,
                        })
                        .collect();
                    let body_open = params_end + 1;
                    let body_end = close(s, body_open);
                    *pos = body_end + 1;
                    V::Func(params, s[body_open + 1..body_end].to_vec(), env.clone())
                }
                "cues" => V::Cues,
                "null" => V::Null,
                "true" => V::Bool(true),
                "false" => V::Bool(false),
                "Array" => V::ArrayNs,
                name if name.starts_with("assert_") => V::Builtin(name.to_owned()),
                name => env
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| V::Unsupported(name.to_owned())),
            },
            Tok::P(p) => V::Unsupported(format!("`{p}`")),
        }
    }

    fn property(&mut self, v: V, name: &str) -> V {
        match v {
            u @ V::Unsupported(_) => u,
            V::Cues => match name {
                "length" => V::Num(self.cues.len() as f64),
                _ => V::Unsupported(name.into()),
            },
            V::Arr(a) if name == "length" => V::Num(a.len() as f64),
            V::ArrayNs if name == "from" => V::ArrayFrom,
            V::Cue(i) => match self.cues.get(i) {
                None => V::Missing(format!("cue {i} does not exist ({} cues)", self.cues.len())),
                Some(c) => match name {
                    "id" => V::Str(c.id.clone()),
                    "text" => V::Str(c.text.clone()),
                    "startTime" => V::Num(c.start_ms as f64 / 1000.0),
                    "endTime" => V::Num(c.end_ms as f64 / 1000.0),
                    other => V::Unsupported(other.to_owned()),
                },
            },
            _ => V::Unsupported(name.into()),
        }
    }

    fn method(&mut self, recv: V, name: &str, args: Vec<V>) -> V {
        match (recv, name) {
            (u @ V::Unsupported(_), _) => u,
            (V::ArrayNs, "from") => self.call(V::ArrayFrom, args),
            (V::Arr(items), "map") => {
                let Some(V::Func(params, body, captured)) = args.into_iter().next() else {
                    return V::Unsupported("map".into());
                };
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    let mut env = captured.clone();
                    if let Some(p) = params.first() {
                        env.push((p.clone(), item));
                    }
                    if let Some(p) = params.get(1) {
                        env.push((p.clone(), V::Num(i as f64)));
                    }
                    self.ret = None;
                    self.block(&body, &mut env);
                    out.push(self.ret.take().unwrap_or(V::Null));
                }
                V::Arr(out)
            }
            (V::Arr(items), "forEach") => {
                if let Some(V::Func(params, body, captured)) = args.into_iter().next() {
                    for (i, item) in items.into_iter().enumerate() {
                        let mut env = captured.clone();
                        if let Some(p) = params.first() {
                            env.push((p.clone(), item));
                        }
                        if let Some(p) = params.get(1) {
                            env.push((p.clone(), V::Num(i as f64)));
                        }
                        self.block(&body, &mut env);
                    }
                }
                V::Null
            }
            (_, other) => V::Unsupported(other.to_owned()),
        }
    }

    fn call(&mut self, callee: V, args: Vec<V>) -> V {
        match callee {
            V::ArrayFrom => match args.first() {
                Some(V::Cues) => V::Arr((0..self.cues.len()).map(V::Cue).collect()),
                Some(v) => v.clone(),
                None => V::Arr(Vec::new()),
            },
            V::Builtin(name) => {
                self.assert(&name, &args);
                V::Null
            }
            u @ V::Unsupported(_) => u,
            _ => V::Unsupported("call".into()),
        }
    }

    fn assert(&mut self, name: &str, args: &[V]) {
        let unsupported = args.iter().take(2).find_map(|a| match a {
            V::Unsupported(r) => Some(r.clone()),
            _ => None,
        });
        if let Some(r) = unsupported {
            *self.out.skipped.entry(r).or_default() += 1;
            return;
        }
        if let Some(V::Missing(m)) = args.iter().take(2).find(|a| matches!(a, V::Missing(_))) {
            self.out.failures.push(format!("{name}: {m}"));
            return;
        }
        let ok = match (name, args) {
            ("assert_equals", [a, b, ..]) => same(a, b),
            ("assert_not_equals", [a, b, ..]) => !same(a, b),
            ("assert_true", [a, ..]) => truthy(a),
            ("assert_false", [a, ..]) => !truthy(a),
            _ => {
                *self.out.skipped.entry(name.to_owned()).or_default() += 1;
                return;
            }
        };
        if ok {
            self.out.passed += 1;
        } else {
            let shown: Vec<String> = args.iter().take(2).map(show).collect();
            self.out.failures.push(format!(
                "{name}(got {}, expected {})",
                shown[0],
                shown.get(1).cloned().unwrap_or_default()
            ));
        }
    }
}

fn js_string(v: &V) -> String {
    match v {
        V::Num(n) if n.fract().abs() < f64::EPSILON => format!("{}", *n as i64),
        V::Num(n) => format!("{n}"),
        V::Str(s) => s.clone(),
        other => show(other),
    }
}

fn truthy(v: &V) -> bool {
    match v {
        V::Bool(b) => *b,
        V::Null | V::Missing(_) => false,
        V::Num(n) => n.abs() > 0.0,
        V::Str(s) => !s.is_empty(),
        _ => true,
    }
}

/// Numbers compare in milliseconds (times are seconds with three decimals).
fn same(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Num(x), V::Num(y)) => (x * 1000.0).round() as i64 == (y * 1000.0).round() as i64,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Null, V::Null) => true,
        _ => false,
    }
}
