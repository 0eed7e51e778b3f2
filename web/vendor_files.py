"""The front-end files the pages load from /vendor/, relative to node_modules.

No imports: the wheel's build step (setup.py) reads this file to copy exactly these files into the
package (web/vendor_assets/), and `/healthz` checks that each of them is there.
"""

# What /vendor/ serves: the built distributions of these packages, nothing else of node_modules.
PACKAGES = ("bootstrap/dist/", "htmx.org/dist/", "bpmn-js/dist/", "chart.js/dist/")

# The files the templates link to.
FILES = (
    "bootstrap/dist/css/bootstrap.min.css",
    "bootstrap/dist/js/bootstrap.bundle.min.js",
    "htmx.org/dist/htmx.min.js",
    "chart.js/dist/chart.umd.js",
    "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-js/dist/assets/bpmn-js.css",
    "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-js/dist/assets/bpmn-font/css/bpmn.css",
    "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
)

# Whole directories copied too: the fonts the stylesheets above refer to by relative URL.
DIRECTORIES = ("bpmn-js/dist/assets/bpmn-font/font/",)
