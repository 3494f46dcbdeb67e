"""Render the OCR corpus: realistic screens drawn by headless Chromium, each with its true text.

Each screen is an HTML page laid out like a real application (an error dialog,
a mail list, a dark code editor, a German form ...) whose every visual line is
also written, in the reading order a person expects, to ``NAME.txt``. The PNGs
and texts are committed, so neither CI nor the tests need Chromium; run this
only to remake them (``apt-get install chromium fonts-dejavu-core
fonts-liberation2``)::

    python benchmarks/ocr_corpus/make_corpus.py

``corpus.json`` lists each screen's language (the OCR language a user of that
language would have set) and size.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

BASE_CSS = """
* { box-sizing: border-box; margin: 0; padding: 0; }
body { font-family: 'Liberation Sans', 'DejaVu Sans', sans-serif; font-size: 15px; color: #202124;
       background: #ffffff; white-space: nowrap; }
.row { display: flex; }
"""


@dataclass
class Screen:
    name: str
    language: str  # ISO 639-1 code of the text, as the OCR language setting holds it
    size: tuple[int, int]
    body: str
    truth: list[str]
    css: str = ""
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def esc(text: str) -> str:
    return html.escape(text, quote=False)


# ------------------------------------------------------------------ screens


def error_dialog() -> Screen:
    lines = [
        "Iris could not save the file report-2024.docx.",
        "Access is denied (error 0x80070005).",
        "Check that you have permission to write to this folder, then try again.",
    ]
    body = f"""
<div class="desk">
 <div class="dlg">
  <div class="title">Save failed</div>
  <div class="content">
   <div class="icon">!</div>
   <div class="msg">{''.join(f'<p>{esc(t)}</p>' for t in lines)}</div>
  </div>
  <div class="buttons"><span class="btn primary">Retry</span><span class="btn">Cancel</span></div>
 </div>
</div>"""
    css = """
.desk { background: #3a6ea5; width: 1280px; height: 720px; padding: 200px 0 0 300px; }
.dlg { width: 680px; background: #f3f3f3; border: 1px solid #888; box-shadow: 0 6px 24px rgba(0,0,0,.4); }
.title { background: #ffffff; padding: 10px 16px; font-size: 14px; border-bottom: 1px solid #ddd; }
.content { display: flex; padding: 22px 20px; }
.icon { width: 40px; height: 40px; border-radius: 20px; background: #e81123; color: #fff; font-weight: bold;
        font-size: 26px; text-align: center; line-height: 40px; margin-right: 18px; }
.msg p { font-size: 15px; line-height: 24px; }
.buttons { text-align: right; padding: 0 20px 18px; }
.btn { display: inline-block; min-width: 96px; text-align: center; padding: 6px 14px; margin-left: 10px;
       border: 1px solid #adadad; background: #e1e1e1; font-size: 14px; }
.btn.primary { border-color: #0078d7; }
"""
    truth = ["Save failed", *lines, "Retry Cancel"]
    return Screen("error_dialog", "en", (1280, 720), body, truth, css)


def mail_list() -> Screen:
    mails = [
        ("Anna Schmidt", "Quarterly budget review moved to Thursday", "10:42"),
        ("IT Service Desk", "Your password expires in 3 days", "09:15"),
        ("Marco Rossi", "Photos from the team lunch", "Yesterday"),
        ("Priya Natarajan", "Re: Invoice number 4711", "Yesterday"),
        ("Newsletter", "Five tips for a quieter inbox", "Mon"),
        ("Tom O'Brien", "Can we move our call to 3:30 pm?", "Mon"),
        ("Calendar", "Reminder: Dentist appointment at 8:00", "Sun"),
    ]
    rows = "".join(
        f'<div class="mail{" unread" if i < 2 else ""}"><span class="from">{esc(a)}</span>'
        f'<span class="subj">{esc(b)}</span><span class="date">{esc(c)}</span></div>'
        for i, (a, b, c) in enumerate(mails)
    )
    body = f"""
<div class="top">Inbox - Mail</div>
<div class="toolbar">New message&nbsp;&nbsp;&nbsp;&nbsp;Reply&nbsp;&nbsp;&nbsp;&nbsp;Delete</div>
<div class="list">{rows}</div>"""
    css = """
.top { background: #0f6cbd; color: #fff; padding: 10px 18px; font-size: 16px; }
.toolbar { padding: 10px 18px; border-bottom: 1px solid #ddd; font-size: 14px; background: #fafafa; }
.list { padding: 0 18px; }
.mail { display: flex; height: 44px; align-items: center; border-bottom: 1px solid #eee; font-size: 14px; }
.mail.unread { font-weight: bold; }
.from { width: 220px; } .subj { width: 620px; } .date { width: 120px; text-align: right; color: #555; }
"""
    truth = ["Inbox - Mail", "New message Reply Delete", *(" ".join(m) for m in mails)]
    return Screen("mail_list", "en", (1024, 480), body, truth, css)


def settings_page() -> Screen:
    nav = ["General", "Display", "Sound", "Notifications", "Privacy", "Updates"]
    rows = [
        ("Screen brightness", "70 %"),
        ("Night light", "Off"),
        ("Text size", "Large (125 %)"),
        ("Resolution", "1920 x 1080"),
        ("Refresh rate", "60 Hz"),
    ]
    body = f"""
<div class="nav"><div class="app">Settings</div>{''.join(f'<div class="item">{esc(n)}</div>' for n in nav)}</div>
<div class="main"><h1>Display</h1>
{''.join(f'<div class="set"><span class="label">{esc(a)}</span><span class="value">{esc(b)}</span></div>'
         for a, b in rows)}
<div class="hint">Changes are applied at once.</div></div>"""
    css = """
body { display: flex; font-family: 'DejaVu Sans', sans-serif; }
.nav { width: 240px; height: 600px; background: #f0f0f0; padding: 20px 0; }
.app { font-size: 18px; padding: 0 24px 24px; }
.item { font-size: 14px; padding: 0 24px; height: 53px; line-height: 53px; }
.main { padding: 36px 48px; }
h1 { font-size: 26px; font-weight: normal; margin-bottom: 26px; }
.set { display: flex; height: 56px; align-items: center; border-bottom: 1px solid #e5e5e5; width: 620px; font-size: 14px; }
.label { width: 380px; } .value { color: #333; }
.hint { margin-top: 22px; color: #555; font-size: 13px; }
"""
    truth = ["Settings", *nav, "Display", *(f"{a} {b}" for a, b in rows), "Changes are applied at once."]
    return Screen("settings_page", "en", (1024, 600), body, truth, css)


def dark_code() -> Screen:
    code = [
        "def total_price(items, tax_rate=0.19):",
        '    """Sum the prices and add the tax."""',
        "    subtotal = sum(item.price for item in items)",
        "    return subtotal * (1 + tax_rate)",
        "",
        'print(total_price(cart) + " EUR")',
    ]
    terminal = [
        "$ python shop.py",
        "Traceback (most recent call last):",
        '  File "shop.py", line 6, in <module>',
        "TypeError: unsupported operand type(s) for +: 'float' and 'str'",
    ]
    gutter = "".join(f"<div>{i}</div>" for i in range(1, len(code) + 1))
    editor = "".join(f"<div>{esc(t) or '&nbsp;'}</div>" for t in code)
    term = "".join(f"<div>{esc(t)}</div>" for t in terminal)
    body = f"""
<div class="tabs"><span class="tab">shop.py</span></div>
<div class="editor"><div class="gutter">{gutter}</div><div class="code">{editor}</div></div>
<div class="panel">TERMINAL</div><div class="term">{term}</div>"""
    css = """
body { background: #1e1e1e; color: #d4d4d4; font-family: 'DejaVu Sans Mono', monospace; font-size: 14px;
       white-space: pre; }
.tabs { background: #252526; height: 36px; } .tab { display: inline-block; background: #1e1e1e; color: #fff;
        padding: 9px 18px; font-family: 'DejaVu Sans', sans-serif; font-size: 13px; }
.editor { display: flex; padding: 12px 0; height: 220px; line-height: 22px; }
.gutter { width: 56px; text-align: right; padding-right: 22px; color: #858585; }
.code { color: #9cdcfe; }
.panel { border-top: 1px solid #444; padding: 8px 16px; font-family: 'DejaVu Sans', sans-serif; font-size: 11px;
         color: #ccc; }
.term { padding: 4px 16px; line-height: 21px; color: #cccccc; }
"""
    # The line numbers sit beside each code line (a row): read with it.
    truth = ["shop.py"]
    truth += [f"{i} {t.strip()}" if t.strip() else str(i) for i, t in enumerate(code, start=1)]
    truth += ["TERMINAL", *(t.strip() for t in terminal)]
    return Screen("dark_code", "en", (1024, 450), body, truth, css)


def news_article() -> Screen:
    paragraph = [
        "The council voted 31 to 8 on Tuesday to add three bus routes",
        "linking the northern suburbs with the central station. The",
        "first buses will run from 2 March, every 12 minutes at peak",
        "times. Tickets cost the same as today: 2.40 for a single trip.",
    ]
    paragraph2 = [
        "Residents had asked for the change for years. \"It means I can",
        "get to work without a car,\" said Maria Lopez, a nurse who lives",
        "in Northfield.",
    ]
    side = ["Most read", "Heat wave expected this weekend", "Library extends opening hours",
            "Local team wins the cup final"]
    body = f"""
<div class="mast">The Daily Courier</div>
<div class="wrap"><div class="article"><h1>City council approves new bus routes</h1>
<div class="by">By Sam Carter, 14 January 2025</div>
{''.join(f'<div class="p">{esc(t)}</div>' for t in paragraph)}<div class="gap"></div>
{''.join(f'<div class="p">{esc(t)}</div>' for t in paragraph2)}</div>
<div class="side"><div class="h">{esc(side[0])}</div>{''.join(f'<div class="s">{esc(t)}</div>' for t in side[1:])}</div></div>"""
    css = """
body { font-family: 'Liberation Serif', 'DejaVu Serif', serif; }
.mast { font-size: 30px; font-weight: bold; padding: 18px 40px; border-bottom: 3px solid #222; }
.wrap { display: flex; padding: 26px 40px; }
.article { width: 660px; } h1 { font-size: 30px; line-height: 38px; margin-bottom: 10px; }
.by { font-family: 'Liberation Sans', sans-serif; color: #666; font-size: 13px; margin-bottom: 16px; }
.p { font-size: 18px; line-height: 29px; } .gap { height: 14px; }
.side { margin-left: 80px; margin-top: 64px; width: 300px; font-family: 'Liberation Sans', sans-serif; }
.h { font-weight: bold; font-size: 15px; border-bottom: 2px solid #c00; padding-bottom: 6px; margin-bottom: 8px; }
.s { font-size: 14px; padding: 12px 0; border-bottom: 1px solid #ddd; }
"""
    truth = ["The Daily Courier", "City council approves new bus routes", "By Sam Carter, 14 January 2025",
             *paragraph, *paragraph2, *side]
    return Screen("news_article", "en", (1180, 600), body, truth, css)


def small_print() -> Screen:
    lines = [
        "By continuing you agree to the Terms of Service and the Privacy Policy.",
        "Prices include VAT where applicable. Offer valid until 31/12/2025 while stocks last.",
        "Delivery usually takes 3-5 working days; remote areas may take longer.",
        "Returns are free within 30 days. Keep the receipt as proof of purchase.",
        "Customer service: Monday to Friday, 8 am to 6 pm, phone 0800 123 456.",
    ]
    body = f"""
<div class="card"><div class="total">Order total: 84.97</div><div class="pay">Pay now</div>
{''.join(f'<div class="fine">{esc(t)}</div>' for t in lines)}</div>"""
    css = """
.card { padding: 30px 40px; }
.total { font-size: 20px; font-weight: bold; margin-bottom: 14px; }
.pay { display: inline-block; background: #1a73e8; color: #fff; padding: 8px 22px; border-radius: 4px;
       font-size: 15px; margin-bottom: 22px; }
.fine { font-size: 11px; line-height: 17px; color: #8a8a8a; }
"""
    return Screen("small_print", "en", (760, 260), body, ["Order total: 84.97", "Pay now", *lines], css)


def status_bar() -> Screen:
    doc = ["Meeting notes", "Agenda: budget, hiring plan, office move.",
           "Action: Lena sends the draft by Friday."]
    status = ["Ln 42, Col 7", "UTF-8", "Spaces: 4", "Python 3.11", "Saved 2 minutes ago"]
    body = f"""
<div class="doc">{''.join(f'<div>{esc(t)}</div>' for t in doc)}</div>
<div class="status">{''.join(f'<span>{esc(t)}</span>' for t in status)}</div>"""
    css = """
body { height: 300px; position: relative; font-family: 'DejaVu Sans', sans-serif; }
.doc { padding: 24px 30px; font-size: 15px; line-height: 26px; }
.status { position: absolute; bottom: 0; left: 0; right: 0; height: 20px; background: #007acc; color: #fff;
          font-size: 10px; line-height: 20px; padding: 0 10px; }
.status span { margin-right: 26px; }
"""
    return Screen("status_bar", "en", (900, 300), body, [*doc, " ".join(status)], css)


def spreadsheet() -> Screen:
    header = ["Item", "Qty", "Unit price", "Total"]
    rows = [
        ["Desk lamp", "2", "19.99", "39.98"],
        ["Office chair", "1", "149.00", "149.00"],
        ["USB-C cable", "5", "7.49", "37.45"],
        ["Notebook A5", "12", "2.35", "28.20"],
        ["Monitor stand", "3", "24.90", "74.70"],
        ["Total", "", "", "329.33"],
    ]
    cols = [180, 80, 120, 120]

    def tr(cells: list[str], cls: str = "") -> str:
        tds = "".join(f'<td style="width:{w}px">{esc(c)}</td>' for c, w in zip(cells, cols))
        return f'<tr class="{cls}"><td class="rh"></td>{tds}</tr>'

    body = f"""
<div class="bar">Budget.xlsx - Sheet1</div>
<table>{tr(header, 'head')}{''.join(tr(r, 'last' if r[0] == 'Total' else '') for r in rows)}</table>"""
    css = """
.bar { background: #217346; color: #fff; padding: 8px 14px; font-size: 14px; }
table { border-collapse: collapse; margin: 10px; font-size: 13px; font-family: 'Liberation Sans', sans-serif; }
td { border: 1px solid #d4d4d4; height: 26px; padding: 0 6px; }
td.rh { width: 30px; background: #f3f3f3; }
tr.head td { background: #f3f3f3; font-weight: bold; }
tr.last td { font-weight: bold; }
"""
    truth = ["Budget.xlsx - Sheet1", " ".join(header)] + [" ".join(c for c in r if c) for r in rows]
    return Screen("spreadsheet", "en", (700, 300), body, truth, css)


def form(name: str, language: str, title: str, fields: list[tuple[str, str]], buttons: list[str],
         note: str) -> Screen:
    rows = "".join(
        f'<div class="f"><span class="l">{esc(a)}</span><span class="v">{esc(b)}</span></div>' for a, b in fields
    )
    body = f"""
<div class="head">{esc(title)}</div><div class="form">{rows}
<div class="note">{esc(note)}</div>
<div class="btns">{''.join(f'<span class="b">{esc(b)}</span>' for b in buttons)}</div></div>"""
    css = """
.head { font-size: 22px; padding: 22px 36px 12px; }
.form { padding: 0 36px; }
.f { display: flex; align-items: center; height: 46px; font-size: 15px; }
.l { width: 260px; color: #333; }
.v { width: 380px; border: 1px solid #9a9a9a; padding: 5px 8px; border-radius: 3px; }
.note { font-size: 13px; color: #555; margin: 14px 0; }
.b { display: inline-block; padding: 7px 20px; margin-right: 12px; background: #e8e8e8; border: 1px solid #aaa;
     font-size: 14px; }
"""
    truth = [title, *(f"{a} {b}" for a, b in fields), note, " ".join(buttons)]
    return Screen(name, language, (760, 440), body, truth, css)


def german_form() -> Screen:
    return form(
        "form_de", "de", "Anmeldung zum Sprachkurs",
        [("Vorname", "Jürgen"), ("Straße und Hausnummer", "Große Gasse 12"), ("Postleitzahl, Ort", "80331 München"),
         ("Kursgebühr", "249,00 €"), ("Größe der Gruppe", "höchstens 12 Personen")],
        ["Zurück", "Weiter"], "Die Gebühr wird erst nach der Bestätigung fällig.",
    )


def french_form() -> Screen:
    return form(
        "form_fr", "fr", "Créer votre compte",
        [("Prénom", "Hélène"), ("Adresse électronique", "helene.lefevre@exemple.fr"),
         ("Numéro de téléphone", "06 12 34 56 78"), ("Ville", "Besançon"), ("Pays", "France")],
        ["Précédent", "Envoyer"], "Les champs marqués sont obligatoires pour être contacté.",
    )


def spanish_form() -> Screen:
    return form(
        "form_es", "es", "Datos de envío",
        [("Nombre completo", "José Muñoz Peña"), ("Dirección", "Calle Mayor 8, 2.º izquierda"),
         ("Código postal", "28013"), ("Año de nacimiento", "1987"), ("Teléfono", "612 345 678")],
        ["Atrás", "Continuar"], "¿Olvidó su contraseña? Pulse aquí para recuperarla.",
    )


def blue_toolbar() -> Screen:
    menu = ["File", "Edit", "View", "Insert", "Format", "Tools", "Help"]
    tools = ["New document", "Open", "Save as PDF", "Print", "Share"]
    body = f"""
<div class="menu">{''.join(f'<span>{m}</span>' for m in menu)}</div>
<div class="tools">{''.join(f'<span class="t">{esc(t)}</span>' for t in tools)}
<span class="search">Search in document</span></div>
<div class="page"><div class="h">Project plan 2025</div><div>Phase one starts in April.</div></div>"""
    css = """
.menu { background: #1f4e9c; color: #fff; font-size: 14px; padding: 7px 10px; }
.menu span { margin-right: 22px; }
.tools { background: #2b63c6; color: #fff; padding: 10px; font-size: 14px; display: flex; align-items: center; }
.t { padding: 5px 12px; margin-right: 8px; background: #3a73d6; border-radius: 3px; }
.search { margin-left: 140px; background: #fff; color: #777; padding: 5px 12px; width: 220px; border-radius: 3px; }
.page { padding: 40px 60px; font-size: 16px; line-height: 28px; } .h { font-size: 24px; margin-bottom: 8px; }
"""
    truth = [" ".join(menu), " ".join(tools) + " Search in document", "Project plan 2025",
             "Phase one starts in April."]
    return Screen("blue_toolbar", "en", (1180, 260), body, truth, css)


SCREENS = [error_dialog, mail_list, settings_page, dark_code, news_article, small_print, status_bar, spreadsheet,
           german_form, french_form, spanish_form, blue_toolbar]


def render(screen: Screen, chromium: str, out: Path) -> None:
    page = f"<!doctype html><meta charset='utf-8'><style>{BASE_CSS}{screen.css}</style><body>{screen.body}</body>"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "page.html"
        src.write_text(page, encoding="utf-8")
        width, height = screen.size
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             "--force-device-scale-factor=1", f"--user-data-dir={tmp}/profile", f"--screenshot={out}",
             f"--window-size={width},{height}", src.as_uri()],
            check=True, capture_output=True, timeout=120,
        )


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        print("Chromium is needed to remake the corpus: apt-get install chromium", file=sys.stderr)
        return 1
    index = []
    for make in SCREENS:
        screen = make()
        png = HERE / f"{screen.name}.png"
        render(screen, chromium, png)
        (HERE / f"{screen.name}.txt").write_text("\n".join(screen.truth) + "\n", encoding="utf-8")
        index.append({"name": screen.name, "language": screen.language, "size": list(screen.size)})
        print(f"{screen.name}: {png.stat().st_size // 1024} KiB, {len(screen.truth)} lines")
    (HERE / "corpus.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
