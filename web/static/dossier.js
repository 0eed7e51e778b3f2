// The dossier page's diagram: its own process version in the bpmn-js viewer, with the steps done
// and the current step marked. The XML address and the step ids come from data- attributes.
// A wide diagram fitted whole would draw its labels a few pixels high, so the view opens on the
// current step at a readable scale; the zoom buttons and the step list keep that step in view.
(async () => {
  const el = document.getElementById("canvas");
  const viewer = new BpmnJS({ container: el });
  // Below this scale the diagram's 12px labels become hard to read.
  const READABLE = 0.85;
  const STEP = 1.25;
  const MIN_SCALE = 0.2;
  const MAX_SCALE = 3;
  try {
    const xml = await (await fetch(el.dataset.xml, { credentials: "same-origin" })).text();
    await viewer.importXML(xml);
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    const done = JSON.parse(el.dataset.done);
    const current = JSON.parse(el.dataset.current);
    done.forEach((id) => canvas.addMarker(id, "step-done"));
    current.forEach((id) => canvas.addMarker(id, "step-current"));

    const shapes = (ids) => ids.map((id) => registry.get(id)).filter(Boolean);
    // What the view keeps in sight: the current steps, else the last step done, else the start.
    const focusShapes = () => {
      const now = shapes(current);
      if (now.length) return now;
      const last = shapes(done.slice(-1));
      if (last.length) return last;
      return registry.filter((e) => e.type === "bpmn:StartEvent");
    };
    const record = () => {
      el.dataset.scale = String(canvas.zoom());
    };
    // Centre the view on the shapes at the given scale.
    const centreOn = (found, scale) => {
      const outer = canvas.viewbox().outer;
      const width = outer.width / scale;
      const height = outer.height / scale;
      if (!found.length) {
        canvas.zoom(scale);
        record();
        return;
      }
      const left = Math.min(...found.map((s) => s.x));
      const top = Math.min(...found.map((s) => s.y));
      const right = Math.max(...found.map((s) => s.x + (s.width || 0)));
      const bottom = Math.max(...found.map((s) => s.y + (s.height || 0)));
      canvas.viewbox({
        x: (left + right) / 2 - width / 2,
        y: (top + bottom) / 2 - height / 2,
        width,
        height,
      });
      record();
    };
    const clamp = (scale) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
    const readableView = () => {
      canvas.zoom("fit-viewport");
      if (canvas.zoom() < READABLE) centreOn(focusShapes(), 1);
      record();
    };

    readableView();
    const onClick = (id, handler) => {
      const button = document.getElementById(id);
      if (button) button.addEventListener("click", handler);
    };
    onClick("zoom-in", () => {
      centreOn(focusShapes(), clamp(canvas.zoom() * STEP));
    });
    onClick("zoom-out", () => {
      centreOn(focusShapes(), clamp(canvas.zoom() / STEP));
    });
    onClick("zoom-current", () => {
      centreOn(focusShapes(), Math.max(canvas.zoom(), 1));
    });
    onClick("zoom-fit", () => {
      canvas.zoom("fit-viewport");
      record();
    });

    // The step list and the diagram point at each other.
    const items = document.querySelectorAll("#steps li[data-step-id]");
    const select = (id) => {
      registry.filter((e) => canvas.hasMarker(e, "step-selected")).forEach((e) => canvas.removeMarker(e, "step-selected"));
      items.forEach((li) => li.classList.toggle("step-selected", li.dataset.stepId === id));
      if (registry.get(id)) canvas.addMarker(id, "step-selected");
    };
    document.querySelectorAll("#steps .step-focus").forEach((button) => {
      button.addEventListener("click", () => {
        const id = button.dataset.stepId;
        select(id);
        centreOn(shapes([id]), Math.max(canvas.zoom(), 1));
      });
    });
    viewer.get("eventBus").on("element.click", (event) => {
      const id = event.element && event.element.id;
      const li = Array.from(items).find((item) => item.dataset.stepId === id);
      if (!li) return;
      select(id);
      li.scrollIntoView({ block: "nearest" });
    });
    // The list opens on the current step, without scrolling the page.
    const list = document.getElementById("steps");
    const now = list && list.querySelector("[aria-current=step]");
    if (now) {
      const offset = now.getBoundingClientRect().top - list.getBoundingClientRect().top + list.scrollTop;
      list.scrollTop = offset - list.clientHeight / 3;
    }
    el.dataset.rendered = "true";
  } catch (err) {
    el.textContent = "Không hiển thị được sơ đồ quy trình.";
  }
})();
