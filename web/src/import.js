// "Import" in the new-mock form: an OpenAPI document (3.x or Swagger 2.0, YAML or JSON)
// or an EDN moclojer spec, picked as a file or pasted. The api turns it into moclojer YAML
// (POST /api/v1/mocks/import), which the form makes the new mock's content.
import { h, field, showError } from "./dom.js";

const IMPORT_TYPES = [".yaml", ".yml", ".json", ".edn"];
const IMPORT_MAX = 1024 * 1024;

// The import part of the form. `onChange(given)` says whether there is a document to
// import (the form then ignores its starter).
export function importBox({ onChange }) {
  const text = h("textarea", {
    name: "import", rows: 8, spellcheck: "false", autocomplete: "off",
    placeholder: "openapi: 3.0.3 … (YAML or JSON), or {:endpoint {…}} (EDN)",
    "data-testid": "import-text",
  });
  const file = h("input", { type: "file", accept: IMPORT_TYPES.join(","), "data-testid": "import-file" });
  const error = h("div", { hidden: true, "data-testid": "import-error" });
  const changed = () => onChange(text.value.trim() !== "");
  text.addEventListener("input", changed);
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    if (chosen.size > IMPORT_MAX) {
      showError(error, `Not loaded: ${chosen.name} is larger than 1 MiB.`);
      file.value = "";
      return;
    }
    showError(error, null);
    text.value = await chosen.text();
    changed();
  });
  const element = h("details", { class: "import", "data-testid": "import-box" },
    h("summary", {}, "Or import an OpenAPI document or an EDN spec"),
    h("p", { class: "hint muted" },
      "Every operation becomes an endpoint that answers its first success response, with the document's example or one made from its schema. The result opens in the editor as the new mock's content."),
    field(`File (${IMPORT_TYPES.join(", ")}; up to 1 MiB)`, file),
    field("Or paste it", text),
    error);
  return { element, value: () => text.value };
}
