// The BPMN editor: bpmn-js modeler plus a side form that writes the motcua extension elements
// (mc:sla, mc:lane) and decision conditions through the modeling API, so undo and redo work.
// Validation is the server's: every change is checked there and the problems are listed.
(() => {
  const cfg = document.getElementById("editor").dataset;
  const editable = cfg.editable === "true";
  const roles = JSON.parse(cfg.roles);
  const MC = {
    name: "motcua", uri: "urn:motcua:bpmn:1", prefix: "mc", xml: { tagAlias: "lowerCase" }, associations: [],
    types: [
      { name: "Sla", superClass: ["Element"], properties: [
        { name: "hours", isAttr: true, type: "Real" }, { name: "counted", isAttr: true, type: "Boolean" }] },
      { name: "Lane", superClass: ["Element"], properties: [
        { name: "role", isAttr: true, type: "String" }, { name: "agency", isAttr: true, type: "String" }] },
      { name: "Step", superClass: ["Element"], properties: [{ name: "kind", isAttr: true, type: "String" }] },
    ],
  };
  // Tooltips, menus and the search box in Vietnamese (web/static/bpmn-vi.js).
  const modeler = new BpmnJS({
    container: "#canvas",
    moddleExtensions: { mc: MC },
    additionalModules: [{ translate: window.motcuaBpmnVi.translate }],
  });
  const moddle = modeler.get("moddle");
  const modeling = modeler.get("modeling");
  const registry = modeler.get("elementRegistry");
  const commandStack = modeler.get("commandStack");
  const panel = document.getElementById("panel");
  let sha = cfg.sha;
  let dirty = false;
  let current = null;

  const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const values = (bo) => (bo.extensionElements && bo.extensionElements.values) || [];
  const findExt = (bo, type) => values(bo).find((v) => v.$instanceOf && v.$instanceOf(type));
  function setExt(element, type, attrs) {
    const others = values(element.businessObject).filter((v) => !(v.$instanceOf && v.$instanceOf(type)));
    const ext = moddle.create("bpmn:ExtensionElements", { values: others });
    const item = moddle.create(type, attrs);
    item.$parent = ext;
    ext.values.push(item);
    modeling.updateProperties(element, { extensionElements: ext });
  }
  const laneOf = (element) => registry.filter((e) => e.type === "bpmn:Lane"
    && (e.businessObject.flowNodeRef || []).includes(element.businessObject))[0];
  const isDecisionFlow = (e) => e.type === "bpmn:SequenceFlow" && e.businessObject.sourceRef
    && e.businessObject.sourceRef.$type === "bpmn:ExclusiveGateway";
  const outcomeOf = (flow) => {
    const body = flow.businessObject.conditionExpression && flow.businessObject.conditionExpression.body;
    const found = /^\s*outcome\s*==\s*['"]([A-Za-z0-9_]+)['"]\s*$/.exec(body || "");
    return found ? found[1] : "";
  };

  function taskForm(element) {
    const bo = element.businessObject;
    const sla = findExt(bo, "mc:Sla") || {};
    const lane = laneOf(element);
    const laneExt = lane ? findExt(lane.businessObject, "mc:Lane") || {} : null;
    const options = Object.entries(roles).map(([key, label]) =>
      `<option value="${key}" ${laneExt && laneExt.role === key ? "selected" : ""}>${esc(label)}</option>`).join("");
    panel.innerHTML = `
      <label class="form-label mb-0" for="f-name">Tên bước</label>
      <input class="form-control form-control-sm mb-2" id="f-name" value="${esc(bo.name)}">
      <label class="form-label mb-0" for="f-hours">Thời gian được giao (giờ làm việc)</label>
      <input class="form-control form-control-sm mb-2" id="f-hours" type="number" min="0" step="0.5" value="${esc(sla.hours)}">
      <div class="form-check mb-2"><input class="form-check-input" type="checkbox" id="f-counted" ${sla.counted === false ? "" : "checked"}>
        <label class="form-check-label" for="f-counted">Tính vào thời hạn giải quyết</label></div>
      ${lane ? `<hr class="my-2"><div class="text-muted mb-1">Làn “${esc(lane.businessObject.name)}” (áp dụng cho mọi bước trong làn)</div>
      <label class="form-label mb-0" for="f-role">Vai trò thực hiện</label>
      <select class="form-select form-select-sm mb-2" id="f-role"><option value="">—</option>${options}</select>
      <label class="form-label mb-0" for="f-agency">Mã cơ quan (để trống: cơ quan tiếp nhận)</label>
      <input class="form-control form-control-sm" id="f-agency" value="${esc(laneExt.agency)}" placeholder="vd. 000.00.12.H40">`
      : `<div class="text-warning">Bước chưa nằm trong làn nào.</div>`}`;
    const disable = (el) => { if (!editable) el.disabled = true; };
    panel.querySelectorAll("input, select").forEach(disable);
    panel.querySelector("#f-name").addEventListener("change", (e) => modeling.updateProperties(element, { name: e.target.value }));
    const writeSla = () => {
      const hours = parseFloat(panel.querySelector("#f-hours").value);
      const attrs = { counted: panel.querySelector("#f-counted").checked };
      if (!Number.isNaN(hours)) attrs.hours = hours;
      setExt(element, "mc:Sla", attrs);
    };
    panel.querySelector("#f-hours").addEventListener("change", writeSla);
    panel.querySelector("#f-counted").addEventListener("change", writeSla);
    if (lane) {
      const writeLane = () => {
        const attrs = { role: panel.querySelector("#f-role").value };
        const agency = panel.querySelector("#f-agency").value.trim();
        if (agency) attrs.agency = agency;
        setExt(lane, "mc:Lane", attrs);
      };
      panel.querySelector("#f-role").addEventListener("change", writeLane);
      panel.querySelector("#f-agency").addEventListener("change", writeLane);
    }
  }

  function flowForm(element) {
    const bo = element.businessObject;
    panel.innerHTML = `
      <div class="text-muted mb-1">Nhánh ra của điểm quyết định: cán bộ chọn kết quả này ở bước trước.</div>
      <label class="form-label mb-0" for="f-label">Nhãn nút bấm</label>
      <input class="form-control form-control-sm mb-2" id="f-label" value="${esc(bo.name)}" placeholder="vd. Phê duyệt">
      <label class="form-label mb-0" for="f-outcome">Khi kết quả bằng</label>
      <input class="form-control form-control-sm" id="f-outcome" value="${esc(outcomeOf(element))}" placeholder="vd. approve" pattern="[A-Za-z0-9_]+">
      <div class="form-text">Chỉ chữ không dấu, số và dấu gạch dưới. Điều kiện được tạo: outcome == '…'</div>`;
    if (!editable) panel.querySelectorAll("input").forEach((el) => { el.disabled = true; });
    const write = () => {
      const label = panel.querySelector("#f-label").value;
      const value = panel.querySelector("#f-outcome").value.trim();
      if (value && !/^[A-Za-z0-9_]+$/.test(value)) { panel.querySelector("#f-outcome").classList.add("is-invalid"); return; }
      panel.querySelector("#f-outcome").classList.remove("is-invalid");
      const props = { name: label };
      props.conditionExpression = value ? moddle.create("bpmn:FormalExpression", { body: `outcome == '${value}'` }) : undefined;
      modeling.updateProperties(element, props);
    };
    panel.querySelector("#f-label").addEventListener("change", write);
    panel.querySelector("#f-outcome").addEventListener("change", write);
  }

  // Task kinds no officer works: the engine would wait there for ever. bpmn.io draws a plain Task
  // by default; the side form offers the change to a User Task (bpmnReplace, so undo works).
  const NOT_HUMAN = {
    "bpmn:Task": "tác vụ chưa có loại", "bpmn:ManualTask": "tác vụ thủ công", "bpmn:SendTask": "tác vụ gửi thông điệp",
    "bpmn:ReceiveTask": "tác vụ nhận thông điệp", "bpmn:BusinessRuleTask": "tác vụ quy tắc nghiệp vụ",
    "bpmn:ScriptTask": "tác vụ script", "bpmn:ServiceTask": "tác vụ dịch vụ",
  };
  function convertForm(element) {
    panel.innerHTML = `
      <p class="mb-1">${esc(element.businessObject.name || element.id)}</p>
      <div class="alert alert-warning py-1 px-2 mb-2">Đây là ${esc(NOT_HUMAN[element.type])}: hệ thống không giao bước này
        cho cán bộ nào nên quy trình chưa thể phê duyệt.</div>
      <button class="btn btn-sm btn-outline-primary" type="button" id="f-to-user-task">Đổi thành User Task</button>`;
    const button = panel.querySelector("#f-to-user-task");
    if (!editable) { button.disabled = true; return; }
    button.addEventListener("click", () => {
      const replaced = modeler.get("bpmnReplace").replaceElement(element, { type: "bpmn:UserTask" });
      modeler.get("selection").select(replaced);
    });
  }

  function showPanel(element) {
    current = element;
    if (!element) { panel.innerHTML = '<p class="text-muted mb-0">Chọn một bước (nhiệm vụ) hoặc một nhánh ra của điểm quyết định.</p>'; return; }
    if (NOT_HUMAN[element.type]) convertForm(element);
    else if (element.type === "bpmn:UserTask") taskForm(element);
    else if (isDecisionFlow(element)) flowForm(element);
    else panel.innerHTML = `<p class="mb-0">${esc(element.businessObject.name || element.id)}</p><p class="text-muted mb-0">${esc(element.type.replace("bpmn:", ""))}</p>`;
  }

  function showResult(result) {
    const total = document.getElementById("total");
    const legal = result.legal_hours;
    total.textContent = `${result.counted_hours ?? "—"} / ${legal} giờ`;
    total.className = "badge fs-6 border " + (result.counted_hours != null && result.counted_hours > legal ? "text-bg-danger" : "text-bg-light");
    const list = document.getElementById("problems");
    document.getElementById("problem-count").textContent = result.problems.length;
    list.innerHTML = result.problems.length ? "" : '<li class="list-group-item text-success">Không có lỗi.</li>';
    (result.notes || []).forEach((note) => {
      const li = document.createElement("li");
      li.className = "list-group-item list-group-item-info";
      li.textContent = note;
      list.prepend(li);
    });
    result.problems.forEach((p) => {
      const li = document.createElement("li");
      li.className = "list-group-item list-group-item-action";
      li.dataset.elementId = p.element_id || "";
      li.textContent = `Dòng ${p.line} · ${p.name || p.element_id || "tài liệu"}: ${p.message}`;
      li.addEventListener("click", () => {
        const target = p.element_id && registry.get(p.element_id);
        if (target) { modeler.get("selection").select(target); modeler.get("canvas").scrollToElement(target); }
      });
      list.appendChild(li);
    });
  }

  async function post(url, body, extra = {}) {
    const response = await fetch(url, { method: "POST", body, credentials: "same-origin",
      headers: { "Content-Type": "application/xml", "X-CSRFToken": cfg.csrf, ...extra } });
    const data = await response.json();
    if (!response.ok) {
      if (data.problems && data.problems.length) showResult({ problems: data.problems, counted_hours: null, legal_hours: Number(cfg.legalHours) });
      throw new Error(data.message || `HTTP ${response.status}`);
    }
    return data;
  }

  let timer = null;
  function validateSoon() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const { xml } = await modeler.saveXML({ format: true });
      try { showResult(await post(cfg.validateUrl, xml)); } catch (err) { /* shown on save */ }
    }, 400);
  }

  async function save() {
    if (!editable) return;
    const { xml } = await modeler.saveXML({ format: true });
    const button = document.getElementById("save");
    button.disabled = true;
    try {
      const result = await post(cfg.saveUrl, xml, { "X-Base-Sha256": sha });
      sha = result.sha256 || sha;
      dirty = false;
      document.getElementById("dirty").hidden = true;
      showResult(result);
      button.textContent = result.problems.length ? `Đã lưu (${result.problems.length} lỗi)` : "Đã lưu";
    } catch (err) {
      window.alert(`Không lưu được: ${err.message}`);
    } finally {
      button.disabled = false;
      setTimeout(() => { button.textContent = "Lưu bản nháp"; }, 2500);
    }
  }

  modeler.on("selection.changed", (e) => showPanel(e.newSelection[0] || null));
  modeler.on("commandStack.changed", () => {
    dirty = true;
    document.getElementById("dirty").hidden = false;
    if (current) showPanel(registry.get(current.id) || null);
    validateSoon();
  });
  window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") { e.preventDefault(); save(); }
  });
  if (editable) {
    document.getElementById("save").addEventListener("click", save);
    document.getElementById("undo").addEventListener("click", () => commandStack.undo());
    document.getElementById("redo").addEventListener("click", () => commandStack.redo());
  }

  (async () => {
    const xml = await (await fetch(cfg.xmlUrl, { credentials: "same-origin" })).text();
    await modeler.importXML(xml);
    modeler.get("canvas").zoom("fit-viewport");
    dirty = false;
    document.getElementById("canvas").dataset.ready = "true";
    validateSoon();
  })();
  window.motcuaEditor = { modeler, save };
})();
