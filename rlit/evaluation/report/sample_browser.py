"""The sample browser in report.html: per eval, every prompt with its completion(s), scores and
verdicts, filterable in the page itself (inline JS/CSS, no external requests).

The data comes from ``samples_<eval>.jsonl`` beside results.json (what ``rlit evaluate`` writes),
else from results.json's ``completions`` and ``units`` (per-prompt scores only). It is embedded as
JSON in a ``<script type="application/json">`` block with ``<``, ``>``, ``&`` and U+2028/9 escaped,
so no text can close the block; the script builds the DOM with ``textContent`` only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from rlit.evaluation.results import EvalResult, SuiteResults, samples_path

MAX_SAMPLES = 5000  # per eval: keeps the page a size a browser opens quickly
MAX_CHARS = 20_000  # per text; longer prompts/completions are cut with a marker


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _text(v: Any) -> str:
    s = v if isinstance(v, str) else ("" if v is None else str(v))
    return s if len(s) <= MAX_CHARS else s[:MAX_CHARS] + f" [… {len(s) - MAX_CHARS} more characters cut]"


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a samples file; a line that is not a JSON object is skipped (the page is a view,
    and a damaged samples file must not cost the run its reports)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row


def _from_results(record: EvalResult) -> list[dict[str, Any]]:
    """Sample-like rows from results.json: its completions, scored by the prompt's unit value."""
    per_group = record.method == "group_gap"  # units are groups, not prompts
    values = {} if per_group else {u.key: u.value for u in record.units or []}
    rows = []
    for c in record.completions or []:
        for i, text in enumerate(c.get("completions") or []):
            rows.append({"key": c.get("key"), "sample": i, "prompt": c.get("prompt"), "completion": text,
                         "score": values.get(c.get("key"))})
    return rows


def _raw_rows(record: EvalResult, folder: Path | None) -> tuple[Iterator[dict[str, Any]] | list, str]:
    path = samples_path(folder, record.name) if folder is not None else None
    if path is not None and path.is_file():
        return _read_jsonl(path), path.name
    return _from_results(record), "results.json (per-prompt scores)"


def _instructions(row: dict[str, Any]) -> list[list[Any]]:
    d = row.get("details") if isinstance(row.get("details"), dict) else {}
    ids, followed = d.get("instruction_id_list") or [], d.get("followed") or []
    if not isinstance(ids, list) or not isinstance(followed, list):
        return []
    return [[_text(i), bool(ok)] for i, ok in zip(ids, followed)]


def _verdict_rule(record: EvalResult):
    """Per-sample pass/fail, where the eval defines one: all instructions followed; score beyond
    the rate threshold; or, for 0/1 scores, the better value. Else None (no per-sample verdict)."""
    method, threshold = record.method, _num(record.threshold)
    higher = record.higher_is_better is not False

    def rule(row: dict[str, Any], binary: bool) -> str | None:
        if row["ins"]:
            return "pass" if all(ok for _, ok in row["ins"]) else "fail"
        score = row["score"]
        if score is None:
            return None
        if method in ("rate_above", "rate_below") and threshold is not None:
            ok = score > threshold if method == "rate_above" else score < threshold
            return "pass" if ok else "fail"
        if binary:
            return "pass" if score == (1.0 if higher else 0.0) else "fail"
        return None
    return rule


def _eval_view(record: EvalResult, folder: Path | None, base: EvalResult | None,
               base_folder: Path | None) -> dict[str, Any]:
    raw, source = _raw_rows(record, folder)
    by_group = record.method == "group_gap"  # units are groups, not prompts
    cats = {} if by_group else {u.key: u.category for u in record.units or []}
    rows, total = [], 0
    for r in raw:
        total += 1
        if len(rows) >= MAX_SAMPLES:
            continue
        scores = r.get("scores") if isinstance(r.get("scores"), dict) else {}
        key = _text(r.get("key"))
        rows.append({"k": key, "s": r.get("sample") if isinstance(r.get("sample"), int) else 0,
                     "p": _text(r.get("prompt")), "c": _text(r.get("completion")), "score": _num(r.get("score")),
                     "src": {_text(k): _num(v) for k, v in scores.items()},
                     "cat": None if cats.get(key) is None else _text(cats.get(key)), "ins": _instructions(r)})
    rule = _verdict_rule(record)
    binary = bool(rows) and all(r["score"] in (0.0, 1.0) for r in rows if r["score"] is not None)
    for r in rows:
        r["v"] = rule(r, binary)
    has_base = base is not None and _attach_baseline(rows, base, base_folder, record.higher_is_better is not False)
    return {"name": _text(record.name), "kind": _text(record.kind or ""), "source": source,
            "total": total, "shown": len(rows), "baseline": has_base, "rows": rows}


def _attach_baseline(rows: list[dict[str, Any]], base: EvalResult, folder: Path | None, higher: bool) -> bool:
    """Each row gets the baseline's completion and score for the same (key, sample), and ``fell``
    when its score is worse than the baseline's."""
    wanted = {(r["k"], r["s"]) for r in rows}
    raw, _ = _raw_rows(base, folder)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for b in raw:
        k = (_text(b.get("key")), b.get("sample") if isinstance(b.get("sample"), int) else 0)
        if k in wanted and k not in found:
            found[k] = {"c": _text(b.get("completion")), "score": _num(b.get("score"))}
    for r in rows:
        b = found.get((r["k"], r["s"]))
        r["b"] = b
        r["fell"] = bool(b and r["score"] is not None and b["score"] is not None
                         and (r["score"] < b["score"] if higher else r["score"] > b["score"]))
    return bool(found)


def baseline_folder(results: SuiteResults) -> Path | None:
    """Where the baseline's samples files are: the folder of the results.json it was read from."""
    if not results.baseline:
        return None
    path = Path(results.baseline)
    return path if path.is_dir() else path.parent if path.is_file() else None


def browser_data(results: SuiteResults, out_dir: str | Path | None = None, baseline: SuiteResults | None = None,
                 baseline_dir: str | Path | None = None) -> dict[str, Any]:
    """The page's data: one view per eval that has completions (lm-eval evals have none)."""
    folder = Path(out_dir) if out_dir is not None else None
    base_folder = Path(baseline_dir) if baseline_dir is not None else None
    views = []
    for record in results.evals.values():
        base = baseline.evals.get(record.name) if baseline is not None else None
        view = _eval_view(record, folder, base, base_folder)
        if view["total"]:
            views.append(view)
    return {"max_samples": MAX_SAMPLES, "evals": views}


def embed_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: nothing in it can end the block or
    start markup, and ASCII-only output carries lone surrogates as escapes."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


CSS = """#samples .sb-controls{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;margin:.5em 0}
#samples table{width:100%;table-layout:fixed}#samples td{vertical-align:top;font-size:90%}
#samples .sb-text{white-space:pre-wrap;overflow-wrap:anywhere;max-height:14em;overflow:auto;margin:0;font-family:ui-monospace,monospace}
#samples .sb-fell{background:#fff3f3}#samples .sb-note{color:#555}#samples .sb-key{overflow-wrap:anywhere}"""

# Builds rows with textContent only: no data string ever reaches innerHTML.
JS = r"""(function(){
"use strict";
var data=JSON.parse(document.getElementById("sb-data").textContent);
function $(id){return document.getElementById(id);}
function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null)e.textContent=String(text);if(cls)e.className=cls;return e;}
function fmt(v){return v===null||v===undefined?"–":(Math.round(v*10000)/10000).toString();}
function type(id){var i=id.indexOf(":");return i<0?id:id.slice(0,i);}
var ev=null,limit=200;
function fill(sel,values,all){sel.replaceChildren();var o=el("option",all);o.value="";sel.appendChild(o);
 values.forEach(function(v){var x=el("option",v);x.value=v;sel.appendChild(x);});sel.disabled=values.length===0;}
function uniq(list){return Array.from(new Set(list)).sort();}
function choose(name){
 ev=data.evals.find(function(e){return e.name===name;});limit=200;
 fill($("sb-category"),uniq(ev.rows.map(function(r){return r.cat;}).filter(function(c){return c!==null;})),"all categories");
 fill($("sb-type"),uniq([].concat.apply([],ev.rows.map(function(r){return r.ins.map(function(i){return type(i[0]);});}))),"all instruction types");
 $("sb-regressed").checked=false;$("sb-regressed").disabled=!ev.baseline;$("sb-regressed-label").hidden=!ev.baseline;
 $("sb-sort-fell").disabled=!ev.baseline;
 var note="from "+ev.source+"; "+ev.total+" samples";
 if(ev.shown<ev.total)note+=", the first "+ev.shown+" embedded (the page keeps at most "+data.max_samples+" per eval)";
 $("sb-note").textContent=note+".";render();}
function matches(r){
 var v=$("sb-verdict").value,c=$("sb-category").value,t=$("sb-type").value,q=$("sb-text").value.toLowerCase();
 if(v==="unscored"?r.score!==null:(v&&r.v!==v))return false;
 if(c&&r.cat!==c)return false;
 if(t&&!r.ins.some(function(i){return type(i[0])===t;}))return false;
 if($("sb-regressed").checked&&!r.fell)return false;
 if(q){var hay=(r.k+"\n"+r.p+"\n"+r.c+"\n"+(r.b?r.b.c:"")).toLowerCase();if(hay.indexOf(q)<0)return false;}
 return true;}
function drop(r){return r.b&&r.b.score!==null&&r.score!==null?r.b.score-r.score:-Infinity;}
function sorter(){var s=$("sb-sort").value;
 function num(f,dir){return function(a,b){var x=f(a),y=f(b);if(x===null)return y===null?0:1;if(y===null)return -1;return dir*(x-y);};}
 if(s==="asc")return num(function(r){return r.score;},1);if(s==="desc")return num(function(r){return r.score;},-1);
 if(s==="fell")return function(a,b){return drop(b)-drop(a);};
 return function(a,b){return a.k<b.k?-1:a.k>b.k?1:a.s-b.s;};}
function textCell(text){var td=el("td");td.appendChild(el("div",text,"sb-text"));return td;}
function row(r){
 var tr=el("tr",null,"sb-row"+(r.fell?" sb-fell":""));tr.setAttribute("data-key",r.k);
 tr.appendChild(el("td",r.k+(r.s?" #"+r.s:"")+(r.cat!==null?" ("+r.cat+")":""),"sb-key"));
 tr.appendChild(el("td",r.v===null?"–":r.v.toUpperCase(),r.v||""));
 var sc=el("td");sc.appendChild(el("b",fmt(r.score)));
 Object.keys(r.src).forEach(function(k){sc.appendChild(el("div",k+": "+fmt(r.src[k])));});
 r.ins.forEach(function(i){sc.appendChild(el("div",(i[1]?"✔ ":"✘ ")+i[0],i[1]?"pass":"fail"));});
 tr.appendChild(sc);tr.appendChild(textCell(r.p));tr.appendChild(textCell(r.c));
 if(ev.baseline){var td=r.b?textCell(r.b.c):el("td","no baseline sample");
  if(r.b)td.insertBefore(el("b","score "+fmt(r.b.score)+(r.fell?" (fell)":"")),td.firstChild);tr.appendChild(td);}
 return tr;}
function render(){
 var rows=ev.rows.filter(matches).sort(sorter());
 $("sb-base-head").hidden=!ev.baseline;
 var body=$("sb-rows");body.replaceChildren();
 rows.slice(0,limit).forEach(function(r){body.appendChild(row(r));});
 $("sb-count").textContent=Math.min(rows.length,limit)+" of "+rows.length+" matching samples shown ("+ev.shown+" in this eval)";
 $("sb-more").hidden=rows.length<=limit;}
if(!data.evals.length){$("sb-note").textContent="No eval of this run recorded completions.";$("sb-ui").hidden=true;return;}
fill($("sb-eval"),data.evals.map(function(e){return e.name;}),"");$("sb-eval").removeChild($("sb-eval").firstChild);$("sb-eval").disabled=false;
["sb-verdict","sb-category","sb-type","sb-sort","sb-regressed"].forEach(function(id){$(id).addEventListener("change",function(){limit=200;render();});});
$("sb-text").addEventListener("input",function(){limit=200;render();});
$("sb-eval").addEventListener("change",function(){choose(this.value);});
$("sb-more").addEventListener("click",function(){limit+=200;render();});
choose(data.evals[0].name);
})();"""

SECTION = """<h2>Samples</h2>
<div id="samples"><p id="sb-note" class="sb-note">The sample browser needs JavaScript.</p>
<div id="sb-ui"><div class="sb-controls">
<label>eval <select id="sb-eval" disabled></select></label>
<label>verdict <select id="sb-verdict"><option value="">all</option><option value="pass">pass</option>
<option value="fail">fail</option><option value="unscored">unscored</option></select></label>
<label>category <select id="sb-category"></select></label>
<label>instruction type <select id="sb-type"></select></label>
<label>text <input id="sb-text" type="search" placeholder="search prompts and completions"></label>
<label>sort <select id="sb-sort"><option value="key">by key</option><option value="asc">score, lowest first</option>
<option value="desc">score, highest first</option><option id="sb-sort-fell" value="fell">largest fall vs baseline</option></select></label>
<label id="sb-regressed-label"><input id="sb-regressed" type="checkbox"> only scores that fell vs baseline</label>
</div><p id="sb-count"></p>
<table><thead><tr><th style="width:9em">prompt key</th><th style="width:4em">verdict</th><th style="width:13em">scores</th>
<th>prompt</th><th>completion</th><th id="sb-base-head">baseline completion</th></tr></thead><tbody id="sb-rows"></tbody></table>
<button id="sb-more" type="button" hidden>show 200 more</button></div></div>
<script type="application/json" id="sb-data">{data}</script>
<script id="sb-js">{js}</script>"""


def render_section(data: dict[str, Any]) -> str:
    """The page's "Samples" section: controls, an empty table, the data and the script."""
    return SECTION.replace("{js}", JS).replace("{data}", embed_json(data))  # data last: never rescanned
