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
})();
