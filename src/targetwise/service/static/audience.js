// Live audience size: posts the builder's fields to /ui/audiences/preview as the user edits.
(function () {
  const form = document.getElementById("audience-form");
  const out = document.getElementById("live-size");
  if (!form || !out) return;
  let timer = null;
  async function refresh() {
    const response = await fetch("/ui/audiences/preview", {
      method: "POST", body: new FormData(form), credentials: "same-origin",
    });
    const body = await response.json();
    if (response.ok) {
      out.textContent = body.size.toLocaleString() + " customers (" +
        body.excluded.profiling_objection + " left out: profiling objection)";
    } else {
      out.textContent = body.error ? body.error.message : "cannot compute";
    }
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 250); }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  refresh();

  // The text box: /ui/audiences/draft reads the sentence; its conditions fill the rows for the user to check.
  const draftForm = document.getElementById("draft-form");
  const result = document.getElementById("draft-result");
  if (!draftForm || !result) return;
  function line(tag, text, id, cls) {
    const node = document.createElement(tag);
    node.textContent = text;
    if (id) node.id = id;
    if (cls) node.className = cls;
    return node;
  }
  draftForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    result.replaceChildren(line("p", "Reading\u2026", null, "muted"));
    const response = await fetch("/ui/audiences/draft", {
      method: "POST", body: new FormData(draftForm), credentials: "same-origin",
      headers: {"Accept": "application/json"},
    });
    const body = await response.json();
    if (!response.ok) {
      result.replaceChildren(line("p", body.error ? body.error.message : "cannot read the text", "draft-error", "error"));
      return;
    }
    for (let i = 1; i <= body.rows; i++) {
      const condition = body.conditions[i - 1];
      form.elements["field_" + i].value = condition ? condition.field : "";
      form.elements["op_" + i].value = condition ? condition.op : "==";
      const value = condition ? condition.value : "";
      form.elements["value_" + i].value = Array.isArray(value) ? value.join(",") : String(value);
    }
    const list = line("ul", "", "draft-explanation");
    body.explanation.forEach(function (sentence) { list.appendChild(line("li", sentence)); });
    const parts = [list];
    if (body.unresolved.length) {
      parts.push(line("p", "Not understood (not in the conditions): " + body.unresolved.join("; "), "draft-unresolved", "error"));
    }
    if (body.conditions.length > body.rows) {
      parts.push(line("p", body.conditions.length + " conditions: the builder holds " + body.rows +
        "; save this one with `targetwise audience draft --save` or the API.", "draft-overflow", "error"));
    }
    parts.push(line("p", "Read by the " + (body.engine === "llm" ? "model endpoint" : "embedded parser") +
      ". Check the conditions below, name the audience and save it.", "draft-engine", "muted"));
    result.replaceChildren.apply(result, parts);
    refresh();
  });
})();
