// The page at GET /: translation while typing, alternatives, copy, file upload and the attention heatmap.
// It speaks the public API only (relative URLs, so it works behind a path prefix): /frontend/settings,
// /languages, /translate (return_alignment: each sentence's pieces and attention) and /translate_file.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ALTERNATIVES = 2;
  let settings = null; // GET /frontend/settings
  let languages = []; // GET /languages: [{code, name, targets}]
  let timer = null;
  let latest = 0; // id of the newest /translate request: older answers are dropped
  let sentences = []; // the last answer's `sentences`
  let selected = 0;

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function status(text, isError = false) {
    $("status").textContent = text;
    $("status").classList.toggle("error", isError);
  }

  async function getJSON(url) {
    const response = await fetch(url);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function option(code, name) {
    const el = document.createElement("option");
    el.value = code;
    el.textContent = code === "auto" ? name : `${name} (${code})`;
    return el;
  }

  function fillTargets() {
    const source = $("source").value;
    const before = $("target").value || settings.language.target.code;
    const names = Object.fromEntries(languages.map((l) => [l.code, l.name]));
    const codes = source === "auto"
      ? [...new Set(languages.flatMap((l) => l.targets))].sort()
      : (languages.find((l) => l.code === source) || { targets: [] }).targets;
    $("target").replaceChildren(...codes.map((code) => option(code, names[code] || code)));
    if (codes.includes(before)) $("target").value = before;
  }

  async function init() {
    for (;;) { // the model may still be loading: /languages answers 503 until it is ready
      try {
        settings = await getJSON("frontend/settings");
        languages = await getJSON("languages");
        break;
      } catch (err) {
        status(`Waiting for the server: ${err.message}`, true);
        await sleep(2000);
      }
    }
    const sources = languages.filter((l) => l.targets.length);
    $("source").replaceChildren(option("auto", "Auto Detect"), ...sources.map((l) => option(l.code, l.name)));
    $("source").value = sources.length === 1 ? sources[0].code : "auto";
    fillTargets();
    $("key-label").hidden = !settings.keyRequired;
    if (settings.supportedFilesFormat.length) {
      $("formats").textContent = settings.supportedFilesFormat.join(" or ");
      $("file").accept = settings.supportedFilesFormat.join(",");
    }
    $("files").hidden = !settings.filesTranslation;
    status("");
    document.body.dataset.ready = "true";
  }

  async function post(body) {
    const response = await fetch("translate", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    return { ok: response.ok, body: await response.json().catch(() => ({ error: response.statusText })) };
  }

  async function translate() {
    const id = ++latest;
    const q = $("input").value;
    if (!q.trim()) {
      show(null, "");
      return;
    }
    const body = { q, source: $("source").value, target: $("target").value, alternatives: ALTERNATIVES,
                   return_alignment: true };
    if ($("api-key").value) body.api_key = $("api-key").value;
    status("Translating…");
    let note = "";
    let answer = await post(body);
    // through a pivot language no attention links source and translation; a server may allow fewer alternatives
    if (!answer.ok && /return_alignment/.test(answer.body.error || "")) {
      delete body.return_alignment;
      note = "No attention to show: this pair is translated through a pivot language.";
      answer = await post(body);
    }
    if (!answer.ok && /alternatives|beam_size/.test(answer.body.error || "")) {
      body.alternatives = 0;
      answer = await post(body);
    }
    if (id !== latest) return; // the text changed while this request ran
    if (!answer.ok) {
      status(answer.body.error || "Translation failed", true);
      return;
    }
    status("");
    show(answer.body, note);
  }

  function show(result, note) {
    $("output").textContent = result ? result.translatedText : "";
    $("copy").disabled = !result;
    const detected = result && result.detectedLanguage;
    $("detected").textContent = detected
      ? `· detected ${detected.language} (${Math.round(detected.confidence)} %)` : "";
    const alternatives = (result && result.alternatives) || [];
    $("alternatives").replaceChildren(...alternatives.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
    $("alternatives-box").hidden = !alternatives.length;
    sentences = (result && result.sentences) || [];
    if (selected >= sentences.length) selected = 0;
    $("sentences").replaceChildren(...sentences.map((s, i) => {
      const li = document.createElement("li");
      li.dataset.index = String(i);
      li.tabIndex = 0;
      const arrow = document.createElement("span");
      arrow.className = "arrow";
      arrow.textContent = "→";
      li.append(s.source, arrow, s.translation);
      return li;
    }));
    $("heatmap-note").textContent = note;
    select(selected);
  }

  function select(index) {
    selected = index;
    for (const li of $("sentences").children) {
      li.setAttribute("aria-selected", String(Number(li.dataset.index) === index));
    }
    drawHeatmap(sentences[index]);
  }

  // One row per target piece (and the end of sentence, which the decoder also attends for), one column per
  // source piece (EOS included): alignment[t][s], as /translate returns it.
  function drawHeatmap(sentence) {
    const table = $("heatmap");
    table.replaceChildren();
    if (!sentence || !sentence.alignment) {
      delete table.dataset.sentence;
      if (sentence && !$("heatmap-note").textContent) {
        $("heatmap-note").textContent = "No attention to show for this sentence (it was not translated).";
      }
      return;
    }
    const rows = sentence.alignment;
    const targetLabels = [...sentence.target_tokens, "</s>"];
    const head = table.createTHead().insertRow();
    head.appendChild(document.createElement("th"));
    for (const piece of sentence.source_tokens) {
      const th = document.createElement("th");
      th.scope = "col";
      th.className = "src";
      th.textContent = piece;
      head.appendChild(th);
    }
    const tbody = table.createTBody();
    rows.forEach((weights, t) => {
      const tr = tbody.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.className = "tgt";
      th.textContent = targetLabels[t] ?? "";
      tr.appendChild(th);
      const top = Math.max(...weights) || 1;
      weights.forEach((w, s) => {
        const td = tr.insertCell();
        td.className = "cell";
        td.dataset.row = String(t);
        td.dataset.col = String(s);
        td.dataset.weight = w.toFixed(4);
        td.title = `${targetLabels[t] ?? ""} ← ${sentence.source_tokens[s] ?? ""}: ${w.toFixed(3)}`;
        td.style.backgroundColor = `rgba(31, 95, 168, ${(w / top).toFixed(3)})`; // darkest: the row's maximum
      });
    });
    table.dataset.sentence = String(selected);
  }

  async function copy() {
    const text = $("output").textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement("textarea"); // without the clipboard API (or its permission)
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    $("copy-status").textContent = "Copied";
    setTimeout(() => { $("copy-status").textContent = ""; }, 1500);
  }

  async function translateFile() {
    const file = $("file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    form.append("source", $("source").value);
    form.append("target", $("target").value);
    if ($("api-key").value) form.append("api_key", $("api-key").value);
    const link = $("file-link");
    link.hidden = true;
    $("file-status").classList.remove("error");
    $("file-status").textContent = `Translating ${file.name}…`;
    const response = await fetch("translate_file", { method: "POST", body: form });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    $("file").value = ""; // the same file may be sent again
    if (!response.ok) {
      $("file-status").textContent = body.error || "File translation failed";
      $("file-status").classList.add("error");
      return;
    }
    $("file-status").textContent = `${file.name} translated.`;
    link.href = body.translatedFileUrl;
    link.download = file.name;
    link.textContent = `Download ${file.name} (once)`;
    link.hidden = false;
  }

  function schedule() {
    $("count").textContent = String($("input").value.length);
    clearTimeout(timer);
    timer = setTimeout(translate, settings ? settings.frontendTimeout : 500);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("input").addEventListener("input", schedule);
    $("source").addEventListener("change", () => { fillTargets(); translate(); });
    $("target").addEventListener("change", translate);
    $("swap").addEventListener("click", () => {
      const source = $("source").value;
      const target = $("target").value;
      if (source === "auto" || !languages.some((l) => l.code === target && l.targets.includes(source))) return;
      $("source").value = target;
      fillTargets();
      $("target").value = source;
      $("input").value = $("output").textContent;
      schedule();
    });
    $("sentences").addEventListener("click", (event) => {
      const li = event.target.closest("li[data-index]");
      if (li) select(Number(li.dataset.index));
    });
    $("sentences").addEventListener("keydown", (event) => {
      const li = event.target.closest("li[data-index]");
      if (li && (event.key === "Enter" || event.key === " ")) select(Number(li.dataset.index));
    });
    $("copy").addEventListener("click", copy);
    $("file").addEventListener("change", translateFile);
    init();
  });
})();
