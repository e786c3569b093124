"""Generate the demo corpus: synthetic procurement documents and media reports about police
WeChat projects, in Chinese and English, with their metadata.

Run from the project root, and commit the output:

    .venv/bin/python scripts/make_demo_corpus.py

It writes ``annotator/demo/corpus/`` and ``annotator/demo/metadata.csv``. Every document is
fictional: the provinces and prefecture-level cities are real so that the study's
cross-tabulations mean something, but county and township names, firms other than Tencent,
people, numbers and URLs are invented, and every page says that it is a synthetic demo
document. The Chinese PDFs use ReportLab's STSong-Light, a CID font that is *not* embedded,
so a viewer must bring its own CMaps and fonts, as with many real government PDFs.

``make_procurement_pdf`` makes one random document of any length, for benchmarks:

    sys.path.insert(0, "scripts"); from make_demo_corpus import make_procurement_pdf

Output is deterministic: fixed seeds, and ReportLab's invariant mode for dates and ids.
"""

from __future__ import annotations

import csv
import datetime
import io
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "annotator" / "demo" / "corpus"
METADATA_CSV = ROOT / "annotator" / "demo" / "metadata.csv"
METADATA_COLUMNS = (
    "filename", "province", "city", "level", "year", "value", "vendor", "kind",
    "source_url", "language", "procurement_method",
)  # fmt: skip
SEED = 2016
# The study's documents run from two to six pages; the demo keeps to the same range.
PAGE_RANGE = range(2, 7)

Language = Literal["zh", "en"]
Kind = Literal["tender", "award", "contract"]
Block = tuple[str, str]  # (block kind, text); a "row" block's text is cells joined by "|"

FOOTER = {
    "zh": "合成演示文件：本文件系虚构示例，并非真实的政府采购文件。",
    "en": "Synthetic demo document: fictional, not a real government record.",
}
METHODS = {  # metadata value -> how a Chinese notice names it
    "public tender": "公开招标",
    "competitive negotiation": "竞争性谈判",
    "competitive consultation": "竞争性磋商",
    "inquiry": "询价",
    "single source": "单一来源",
}
# Projects below this value are account upkeep and content work, not system building, and
# their annexes ask for service rather than security certification.
SMALL_PROJECT = 500_000


# --- page layout -----------------------------------------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT, RIGHT, TOP, BOTTOM = 64.0, 64.0, 770.0, 72.0
TEXT_WIDTH = PAGE_WIDTH - LEFT - RIGHT
GREY = Color(0.35, 0.35, 0.35)
BLACK = Color(0, 0, 0)
# Characters that must not start a line in Chinese typesetting.
NO_LINE_START = frozenset("，。、；：？！）》」』”’%·…—,.;:?!)")
NO_LINE_END = frozenset("（《「『“‘(")
KEEP_WITH_NEXT = frozenset({"heading", "subheading", "head_row"})
# Latin words and numbers wrap as one unit, so "12,800,000.00" is never split across lines.
TOKENS = re.compile(r"[A-Za-z0-9¥$][A-Za-z0-9.,%()\-/:'’¥$@_]*|\s|.")


@dataclass(frozen=True)
class Style:
    """How one kind of block is set: font, size, line spacing, indent and alignment."""

    font: str
    size: float
    leading: float
    space_before: float = 0.0
    indent: float = 0.0
    align: Literal["left", "center", "right"] = "left"
    bold: bool = False


def _styles(language: Language) -> dict[str, Style]:
    # STSong-Light has no bold face; bold Chinese is drawn with a stroked outline instead.
    body, bold = (
        ("STSong-Light", "STSong-Light") if language == "zh" else ("Times-Roman", "Times-Bold")
    )
    # Chinese contracts are usually set in 小四 (12 pt) at 1.5 line spacing.
    return {
        "title": Style(bold, 17, 26, align="center", bold=True),
        "subtitle": Style(body, 12, 20, 2, align="center"),
        "heading": Style(bold, 13, 22, 10, bold=True),
        "para": Style(body, 12, 21, 4),
        "subheading": Style(body, 12, 21, 4),
        "item": Style(body, 12, 21, 2, indent=24),
        "right": Style(body, 12, 21, 8, align="right"),
        "cell": Style(body, 10.5, 15),
        "head_cell": Style(bold, 10.5, 15, bold=True),
    }


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines that fit ``width``: Chinese anywhere, Latin between words."""
    lines: list[str] = []
    line, line_width = "", 0.0
    for token in TOKENS.findall(text):
        token_width = pdfmetrics.stringWidth(token, font, size)
        if line and line_width + token_width > width and token not in NO_LINE_START:
            carried = ""
            if line[-1] in NO_LINE_END and len(line) > 1:
                line, carried = line[:-1], line[-1]  # an opening bracket starts the next line
            lines.append(line.rstrip())
            line, line_width = carried, pdfmetrics.stringWidth(carried, font, size)
            if token.isspace():
                continue
        line += token
        line_width += token_width
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


class PageWriter:
    """Lays out blocks of text on A4 pages with a header and the synthetic-document footer.

    Blocks are kept whole on a page. The writer never makes more than ``max_pages`` pages: a
    block that does not fit on the last one is refused (``add`` returns False), which lets a
    caller fill a document up to an exact length.
    """

    def __init__(
        self,
        target: str | BinaryIO,
        *,
        language: Language,
        max_pages: int,
        total: int | None,
        header: str,
        title: str,
    ):
        self.language = language
        self.styles = _styles(language)
        self.max_pages = max_pages
        self.total = total
        self.header = header
        self.page = 1
        self.y = TOP
        self.canvas = canvas.Canvas(target, pagesize=A4, invariant=True, pageCompression=1)
        self.canvas.setTitle(title)
        self.canvas.setAuthor("annotator demo corpus (synthetic)")
        self.canvas.setSubject(FOOTER[language])
        self._waiting: list[tuple[float, Callable[[], None]]] = []
        self._draw_header()

    def add(self, kind: str, text: str, *, widths: tuple[float, ...] = ()) -> bool:
        """Set one block; ``row`` and ``head_row`` blocks are table rows of ``widths``.

        Headings and header rows wait for the block after them, so that they never end a
        page on their own.
        """
        block = self._measure(kind, text, widths)
        if kind in KEEP_WITH_NEXT:
            self._waiting.append(block)
            return True
        blocks = [*self._waiting, block]
        if not self._room_for(sum(height for height, _ in blocks)):
            return False
        self._waiting = []
        for _, draw in blocks:
            draw()
        return True

    def save(self) -> int:
        """Finish the last page, write the file and return the page count."""
        if self._waiting and self._room_for(sum(height for height, _ in self._waiting)):
            for _, draw in self._waiting:
                draw()
        self._draw_footer()
        self.canvas.showPage()
        self.canvas.save()
        return self.page

    def _measure(
        self, kind: str, text: str, widths: tuple[float, ...]
    ) -> tuple[float, Callable[[], None]]:
        """The height of a block and a function that draws it at the current position."""
        if kind in {"row", "head_row"}:
            return self._measure_row(text.split("|"), widths, header=kind == "head_row")
        style = self.styles[kind]
        lines = _wrap(text, style.font, style.size, TEXT_WIDTH - style.indent)

        def draw() -> None:
            self.y -= style.space_before
            for line in lines:
                self.y -= style.leading
                self._draw(line, style, LEFT + style.indent, self.y)

        return style.space_before + style.leading * len(lines), draw

    def _measure_row(
        self, cells: list[str], widths: tuple[float, ...], *, header: bool
    ) -> tuple[float, Callable[[], None]]:
        style = self.styles["head_cell" if header else "cell"]
        wrapped = [
            _wrap(cell, style.font, style.size, width - 8)
            for cell, width in zip(cells, widths, strict=True)
        ]
        row_height = style.leading * max(len(lines) for lines in wrapped) + 6
        space_before = 4 if header else 0

        def draw() -> None:
            self.y -= space_before
            x = LEFT
            for lines, width in zip(wrapped, widths, strict=True):
                self.canvas.setLineWidth(0.5)
                self.canvas.rect(x, self.y - row_height, width, row_height, stroke=1, fill=0)
                y = self.y - 2
                for line in lines:
                    y -= style.leading
                    self._draw(line, style, x + 4, y + 3)
                x += width
            self.y -= row_height

        return space_before + row_height, draw

    def _room_for(self, height: float) -> bool:
        if self.y - height >= BOTTOM:
            return True
        if self.page >= self.max_pages:
            return False
        self._draw_footer()
        self.canvas.showPage()
        self.page += 1
        self.y = TOP
        self._draw_header()
        return self.y - height >= BOTTOM

    def _draw(self, line: str, style: Style, x: float, y: float) -> None:
        width = pdfmetrics.stringWidth(line, style.font, style.size)
        if style.align == "center":
            x = (PAGE_WIDTH - width) / 2
        elif style.align == "right":
            x = PAGE_WIDTH - RIGHT - width
        text = self.canvas.beginText(x, y)
        text.setFont(style.font, style.size)
        fake_bold = style.bold and style.font == "STSong-Light"
        if not fake_bold:
            text.textLine(line)
            self.canvas.drawText(text)
            return
        # Fill and stroke is the usual fake bold. The render mode lives in the PDF graphics
        # state beyond the text object, and ReportLab never resets it, so save and restore.
        self.canvas.saveState()
        self.canvas.setLineWidth(0.35)
        text.setTextRenderMode(2)
        text.textLine(line)
        self.canvas.drawText(text)
        self.canvas.restoreState()

    # The header is drawn first and the footer last, so text extraction reads them in the
    # order a person does.
    def _draw_header(self) -> None:
        self.canvas.setFillColor(GREY)
        self.canvas.setFont(self.styles["para"].font, 8)
        self.canvas.drawString(LEFT, PAGE_HEIGHT - 40, self.header)
        self.canvas.setLineWidth(0.5)
        self.canvas.line(LEFT, PAGE_HEIGHT - 46, PAGE_WIDTH - RIGHT, PAGE_HEIGHT - 46)
        self.canvas.setFillColor(BLACK)

    def _draw_footer(self) -> None:
        self.canvas.setFillColor(GREY)
        self.canvas.setFont(self.styles["para"].font, 8)
        self.canvas.drawString(LEFT, 40, FOOTER[self.language])
        total = self.total or self.page
        number = (
            f"第 {self.page} 页 共 {total} 页"
            if self.language == "zh"
            else f"Page {self.page} of {total}"
        )
        self.canvas.drawRightString(PAGE_WIDTH - RIGHT, 40, number)
        self.canvas.setFillColor(BLACK)


# --- money and dates -------------------------------------------------------------------------

UPPER_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def rmb_in_words(yuan: int) -> str:
    """A whole amount of yuan in the financial capitals of Chinese contracts: 叁万陆仟元整."""
    if yuan == 0:
        return "零元整"
    words = ""
    gap = False  # a zero group since the last digit written
    for value, unit in ((yuan // 10**8, "亿"), (yuan // 10**4 % 10**4, "万"), (yuan % 10**4, "")):
        if value == 0:
            gap = gap or bool(words)
            continue
        if words and (gap or value < 1000):
            words += "零"
        words += _four_digits_in_words(value) + unit
        gap = False
    return words + "元整"


def _four_digits_in_words(value: int) -> str:
    words, zero = "", False
    for power, unit in ((3, "仟"), (2, "佰"), (1, "拾"), (0, "")):
        digit = value // 10**power % 10
        if digit:
            words += ("零" if zero else "") + UPPER_DIGITS[digit] + unit
            zero = False
        elif words:
            zero = True
    return words


def yuan(amount: int) -> str:
    """An amount as printed in notices: ¥12,800,000.00."""
    return f"¥{amount:,.2f}"


def wan(amount: int) -> str:
    """An amount in units of 10,000 yuan (万元), as budgets are usually stated."""
    return f"{amount / 10_000:,.2f}万元"


def cny(amount: int) -> str:
    """An amount for an English reader: CNY 12,800,000 (12.80 million)."""
    return f"CNY {amount:,}" + (f" ({amount / 1e6:.2f} million)" if amount >= 1_000_000 else "")


def zh_date(date: tuple[int, int, int]) -> str:
    """2016年3月18日."""
    year, month, day = date
    return f"{year}年{month}月{day}日"


def en_date(date: tuple[int, int, int]) -> str:
    """18 March 2016."""
    return datetime.date(*date).strftime("%-d %B %Y")


def _later(date: tuple[int, int, int], days: int) -> tuple[int, int, int]:
    later = datetime.date(*date) + datetime.timedelta(days=days)
    return later.year, later.month, later.day


# --- the documents -------------------------------------------------------------------------


@dataclass(frozen=True)
class Procurement:
    """One synthetic procurement document and the metadata it is listed with."""

    filename: str
    kind: Kind
    language: Language
    province: str
    city: str
    level: str
    date: tuple[int, int, int]
    buyer: str
    buyer_address: str
    project: str
    number: str
    method: str
    value: int
    functions: tuple[str, ...]
    data_items: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    vendor: str = ""
    vendor_address: str = ""
    duration: str = ""
    qualification: str = ""
    agency: str = ""
    translation_of: str = ""
    annex: tuple[str, ...] = ()

    @property
    def year(self) -> int:
        """The year of publication or signature."""
        return self.date[0]

    @property
    def collects_data(self) -> bool:
        """Whether the document names data collected from users."""
        return bool(self.data_items)


def render(
    document: Procurement, target: str | Path | BinaryIO, *, seed: int, pages: int | None = None
) -> int:
    """Write ``document`` as a PDF and return its page count.

    Without ``pages`` the document takes the pages its text needs. With ``pages`` it has
    exactly that many: the annex is padded with further requirement clauses, or the text is
    cut short when it is too long.
    """
    if isinstance(target, Path):
        target = str(target)
    if pages is None:
        # Lay out once to count the pages, so every footer can say "page n of N".
        total = _layout(document, io.BytesIO(), seed=seed, max_pages=1000, total=None, pad=False)
        return _layout(document, target, seed=seed, max_pages=total, total=total, pad=False)
    return _layout(document, target, seed=seed, max_pages=pages, total=pages, pad=True)


def _layout(
    document: Procurement,
    target: str | BinaryIO,
    *,
    seed: int,
    max_pages: int,
    total: int | None,
    pad: bool,
) -> int:
    zh = document.language == "zh"
    writer = PageWriter(
        target,
        language=document.language,
        max_pages=max_pages,
        total=total,
        header=f"{document.buyer} · {document.number}" if zh else document.buyer,
        title=_title(document),
    )
    rng = random.Random(seed)
    blocks = _BODIES[(document.kind, document.language)](document)
    annex = _ANNEXES[document.language](document, rng)
    padding = _padding(document.language, rng) if pad else iter(())
    widths: tuple[float, ...] = ()
    for kind, text in _chain(blocks, annex, padding):
        if kind == "columns":
            widths = tuple(float(width) for width in text.split("|"))
            continue
        if not writer.add(kind, text, widths=widths):
            if not pad:
                raise ValueError(f"{document.filename}: text does not fit in {max_pages} pages")
            break
    return writer.save()


def _chain(*parts: Iterator[Block]) -> Iterator[Block]:
    for part in parts:
        yield from part


def _title(document: Procurement) -> str:
    if document.language == "zh":
        suffix = {
            "tender": METHODS[document.method] + "公告",
            "award": "中标（成交）结果公告",
            "contract": "政府采购合同",
        }[document.kind]
        return f"{document.buyer}{document.project}{suffix}"
    prefix = {"tender": "Tender notice", "award": "Award notice", "contract": "Contract"}
    return f"{prefix[document.kind]}: {document.project}"


def _zh_number(number: int) -> str:
    """一, 二, … 十九: the numbering of Chinese sections."""
    digits = "零一二三四五六七八九"
    return (
        digits[number]
        if number < 10
        else ("十" if number < 20 else digits[number // 10] + "十")
        + (digits[number % 10] if number % 10 else "")
    )


def _contact(d: Procurement) -> str:
    rng = random.Random(d.filename)
    return rng.choice("陈林王黄刘张李吴郑周") + rng.choice(["警官", "女士", "先生"])


def _phone(d: Procurement) -> str:
    # Published numbers in data sets are masked; these stand for no one.
    area = {"Fujian": "0591", "Shanghai": "021", "Zhejiang": "0577", "Guangdong": "020",
            "Jiangsu": "0512", "Henan": "0379", "Gansu": "0932", "Guizhou": "0851"}  # fmt: skip
    return f"{area.get(d.province, '010')}-8{random.Random(d.filename).randint(100, 999)}****"


def _reviewers(d: Procurement) -> str:
    rng = random.Random(d.number)
    return "、".join(
        rng.choice("陈林王黄刘张李吴郑周何罗") + "某" + rng.choice("一二三四五") for _ in range(4)
    )


def _fee(value: int) -> int:
    return max(round(value * 0.012 / 100) * 100, 1500)


def _policy_basis(d: Procurement) -> str:
    if d.year >= 2016:
        return "公安部《关于进一步推进“互联网+公安政务服务”工作的指导意见》"
    return "上级公安机关关于加强公安政务新媒体建设的工作要求"


def _zh_tender(d: Procurement) -> Iterator[Block]:
    deadline = zh_date(_later(d.date, 20))
    yield "title", _title(d)
    yield "heading", "项目概况"
    yield (
        "para",
        (
            f"{d.project}的潜在供应商应在政府采购网获取采购文件，并于{deadline}9点30分（北京时间）前提交响应文件。"
        ),
    )
    yield "heading", "一、项目基本情况"
    yield "item", f"项目编号：{d.number}"
    yield "item", f"项目名称：{d.project}"
    yield "item", f"采购方式：{METHODS[d.method]}"
    yield "item", f"预算金额：{wan(d.value)}（人民币{rmb_in_words(d.value)}）"
    yield "item", "最高限价：同预算金额，超过最高限价的报价按无效响应处理。"
    yield "item", "采购需求："
    for number, function in enumerate(d.functions, start=1):
        yield "item", f"（{_zh_number(number)}）{function}"
    if d.targets:
        yield "item", "考核指标：" + "；".join(d.targets) + "。"
    yield "item", f"合同履行期限：{d.duration}"
    yield "item", "本项目不接受联合体投标。"
    yield "heading", "二、申请人的资格要求"
    yield "item", "1.满足《中华人民共和国政府采购法》第二十二条规定；"
    yield "item", "2.落实政府采购政策需满足的资格要求：本项目非专门面向中小企业采购；"
    yield "item", f"3.本项目的特定资格要求：{d.qualification or '无。'}"
    yield "heading", "三、获取采购文件"
    yield (
        "item",
        f"时间：{zh_date(d.date)}至{zh_date(_later(d.date, 7))}，每天上午8:30至12:00，下午14:30至17:30。",
    )
    yield "item", "方式：在政府采购网免费下载；售价：0元（人民币）。"
    yield "heading", "四、提交响应文件截止时间、开启时间和地点"
    yield "item", f"{deadline}9点30分（北京时间）；地点：{d.buyer_address}开标室。"
    yield "heading", "五、公告期限"
    yield "item", "自本公告发布之日起5个工作日。"
    yield "heading", "六、其他补充事宜"
    if d.collects_data:
        yield (
            "para",
            (
                f"本项目涉及采集和处理{'、'.join(d.data_items)}等信息。供应商应遵守《中华人民共和国网络安全法》"
                "及公安机关信息安全等级保护有关规定；上述数据的所有权归采购人，不得用于本项目以外的任何用途，"
                "不得向任何第三方提供。"
            ),
        )
    else:
        yield "para", "本项目不涉及采集公民个人信息。"
    yield "heading", "七、对本次采购提出询问，请按以下方式联系"
    yield "item", f"1.采购人信息　名称：{d.buyer}　地址：{d.buyer_address}"
    if d.agency:
        yield "item", f"2.采购代理机构信息　名称：{d.agency}"
    yield (
        "item",
        f"{3 if d.agency else 2}.项目联系方式　项目联系人：{_contact(d)}　电话：{_phone(d)}",
    )
    yield "right", d.agency or d.buyer
    yield "right", zh_date(d.date)


def _zh_award(d: Procurement) -> Iterator[Block]:
    yield "title", _title(d)
    yield "heading", "一、项目编号"
    yield "item", d.number
    yield "heading", "二、项目名称"
    yield "item", d.project
    yield "heading", "三、中标（成交）信息"
    yield "item", f"供应商名称：{d.vendor}"
    yield "item", f"供应商地址：{d.vendor_address}"
    yield "item", f"中标（成交）金额：{yuan(d.value)}（人民币{rmb_in_words(d.value)}）"
    yield "heading", "四、主要标的信息"
    yield "item", f"服务名称：{d.project}"
    yield "item", "服务范围：" + "；".join(d.functions) + "。"
    if d.targets:
        yield "item", "服务要求：" + "；".join(d.targets) + "。"
    yield "item", f"服务时间：{d.duration}"
    yield "item", "服务标准：符合采购文件及国家、行业相关标准。"
    yield "heading", "五、评审专家（单一来源采购人员）名单"
    yield "item", _reviewers(d) + "（采购人代表）"
    yield "heading", "六、代理服务收费标准及金额"
    yield "item", f"参照国家有关收费标准，由中标（成交）供应商支付，金额：{yuan(_fee(d.value))}。"
    yield "heading", "七、公告期限"
    yield "item", "自本公告发布之日起1个工作日。"
    yield "heading", "八、其他补充事宜"
    if d.collects_data:
        yield (
            "para",
            f"中标供应商须与采购人签订保密协议，对项目涉及的{'、'.join(d.data_items)}等数据承担保密责任。",
        )
    else:
        yield "para", "无。"
    yield "heading", "九、凡对本次公告内容提出询问，请按以下方式联系"
    yield "item", f"采购人：{d.buyer}　地址：{d.buyer_address}"
    yield "item", f"联系人：{_contact(d)}　电话：{_phone(d)}"
    yield "right", d.agency or d.buyer
    yield "right", zh_date(d.date)


def _zh_contract(d: Procurement) -> Iterator[Block]:
    law = "《中华人民共和国民法典》" if d.year >= 2021 else "《中华人民共和国合同法》"
    articles = iter(range(1, 20))
    yield "title", f"{d.project}服务合同"
    yield "subtitle", f"合同编号：{d.number}-HT"
    yield "item", f"甲方（采购人）：{d.buyer}"
    yield "item", f"地址：{d.buyer_address}"
    yield "item", f"乙方（供应商）：{d.vendor}"
    yield "item", f"地址：{d.vendor_address}"
    yield (
        "para",
        (
            f"根据《中华人民共和国政府采购法》、{law}及{d.project}（项目编号：{d.number}）的采购结果"
            f"（采购方式：{METHODS[d.method]}），经甲乙双方协商一致，签订本合同。"
        ),
    )

    def article(title: str) -> Block:
        return "heading", f"第{_zh_number(next(articles))}条　{title}"

    yield article("项目内容")
    yield "para", f"乙方按照本合同及采购文件的要求，为甲方提供{d.project}相关服务。"
    yield article("合同金额")
    yield (
        "para",
        f"本合同总金额为人民币{rmb_in_words(d.value)}（{yuan(d.value)}），含税及全部服务费用。",
    )
    yield article("服务内容与技术要求")
    for number, function in enumerate(d.functions, start=1):
        yield "item", f"{number}.{function}"
    yield article("服务期限")
    yield "para", d.duration
    yield article("数据安全与保密")
    if d.collects_data:
        yield (
            "para",
            (
                f"乙方在服务过程中接触的{'、'.join(d.data_items)}等数据属于甲方所有。乙方应采取加密存储、"
                "访问审计等措施，不得擅自留存、复制或向第三方提供；合同终止后应按甲方要求移交或销毁。"
            ),
        )
    else:
        yield "para", "本项目不采集公民个人信息。乙方对工作中知悉的警务工作信息负有保密义务。"
    if d.targets:
        yield article("考核指标")
        for target in d.targets:
            yield "item", f"· {target}"
    yield article("付款方式")
    yield (
        "para",
        "合同签订后15个工作日内，甲方支付合同金额的40%；项目验收合格后支付50%；余款10%在服务期满且无质量问题后支付。",
    )
    yield article("验收")
    yield "para", "甲方依据采购文件、乙方响应文件及本合同约定组织验收，验收合格后出具验收报告。"
    yield article("违约责任")
    yield "para", "乙方未按约定提供服务的，每逾期一日按合同金额的千分之三向甲方支付违约金。"
    yield article("争议解决")
    yield "para", "因本合同引起的争议，双方协商解决；协商不成的，向甲方所在地人民法院提起诉讼。"
    yield article("其他")
    yield (
        "para",
        "本合同一式四份，甲乙双方各执两份，自双方签字盖章之日起生效。附件与本合同具有同等效力。",
    )
    yield "item", f"甲方（盖章）：{d.buyer}"
    yield "item", f"乙方（盖章）：{d.vendor}"
    yield "item", f"签订日期：{zh_date(d.date)}"


def _en_summary(d: Procurement) -> Iterator[Block]:
    kind = {"tender": "tender notice", "award": "award notice", "contract": "contract"}[d.kind]
    sections = iter(range(1, 10))
    yield "title", _title(d)
    source = f" ({d.translation_of})" if d.translation_of else ""
    yield "subtitle", f"English summary translation of a Chinese {kind}{source}"
    yield (
        "para",
        (
            "This is an unofficial working translation prepared for coding. Where it and the Chinese "
            "text differ, the Chinese text prevails."
        ),
    )
    yield "heading", f"{next(sections)}. Project"
    yield "item", f"Project number: {d.number}"
    yield "item", f"Purchaser: {d.buyer}, {d.buyer_address}"
    if d.vendor:
        yield "item", f"Supplier: {d.vendor}, {d.vendor_address}"
    yield "item", f"Procurement method: {d.method}"
    yield "item", f"{'Budget' if d.kind == 'tender' else 'Contract value'}: {cny(d.value)}"
    yield "item", f"Date: {en_date(d.date)}"
    yield "item", f"Term: {d.duration}"
    yield "heading", f"{next(sections)}. Services required"
    for number, function in enumerate(d.functions, start=1):
        yield "item", f"({number}) {function}"
    if d.targets:
        yield "heading", f"{next(sections)}. Performance targets"
        for target in d.targets:
            yield "item", f"- {target}"
    yield "heading", f"{next(sections)}. Data and confidentiality"
    if d.collects_data:
        yield (
            "para",
            (
                f"The system collects or processes: {', '.join(d.data_items)}. All such data belongs to "
                "the purchaser and may not be used for any other purpose or passed to third parties."
            ),
        )
    else:
        yield "para", "The document states no personal data collected from users."
    if d.qualification:
        yield "heading", f"{next(sections)}. Supplier qualifications"
        yield "para", d.qualification
    if d.kind == "contract":
        yield "heading", f"{next(sections)}. Standard terms"
        yield (
            "item",
            (
                "Payment: 40% within 15 working days of signing, 50% on acceptance, and the last "
                "10% at the end of the service period if there are no quality problems."
            ),
        )
        yield "item", "Acceptance: the purchaser checks the work against the tender documents."
        yield "item", "Liability: 0.3% of the contract value for each day of delay."
        yield "item", "Disputes: by negotiation, or else in the court where the purchaser is."
    elif d.kind == "tender":
        yield "heading", f"{next(sections)}. Timetable"
        yield "item", f"Documents available from {en_date(d.date)} for 7 days, free of charge."
        yield "item", f"Bids due by 9:30 on {en_date(_later(d.date, 20))} (Beijing time)."


_BODIES: dict[tuple[str, str], Callable[[Procurement], Iterator[Block]]] = {
    ("tender", "zh"): _zh_tender,
    ("award", "zh"): _zh_award,
    ("contract", "zh"): _zh_contract,
    ("tender", "en"): _en_summary,
    ("award", "en"): _en_summary,
    ("contract", "en"): _en_summary,
}


# --- annexes -------------------------------------------------------------------------------

# fmt: off
TECHNICAL_CLAUSES = {
    "zh": (
        "系统应支持不少于{n}人同时在线访问，页面平均响应时间不超过{t}秒。",
        "平台应通过国家信息安全等级保护第三级测评，每年至少开展{k}次安全检查。",
        "系统日志保存期限不少于{m}个月，关键操作应可追溯到具体账号。",
        "数据每日备份一次，恢复时间目标不超过{t}小时。",
        "涉及公民个人信息的数据应加密传输和存储，页面对身份证号码等敏感字段脱敏显示。",
        "互联网区与公安信息网之间的数据交换应经公安信息通信网边界接入平台进行。",
        "接口调用应采用统一身份认证和访问控制，禁止使用弱口令和共享账号。",
        "系统应提供运行监控功能，对接口调用量和失败率进行实时统计和告警。",
        "界面应适配主流手机型号，兼容微信客户端最近{k}个版本。",
    ),
    "en": (
        "The system shall support at least {n} concurrent users with an average response time "
        "under {t} seconds.",
        "The platform shall pass a level-three information security protection assessment, "
        "with at least {k} security checks a year.",
        "System logs shall be kept for at least {m} months; key operations shall be traceable "
        "to an account.",
        "Data shall be backed up daily; recovery shall take no more than {t} hours.",
        "Personal data shall be encrypted in transit and at rest; ID numbers shall be masked "
        "on screen.",
        "Data shall pass between the internet zone and the police network only through the "
        "boundary platform.",
    ),
}
SERVICE_CLAUSES = {
    "zh": (
        "供应商应提供7×24小时技术支持，接到故障报告后{t}小时内响应。",
        "供应商应为采购人培训业务人员不少于{k}批次，每批次不少于{n2}人。",
        "项目验收前，供应商应完成不少于{m}个月的试运行并提交试运行报告。",
        "质保期内每季度提供一次巡检服务，并提交巡检报告。",
        "供应商应指定项目负责人一名，负责与采购人的日常联络。",
        "群众留言应在{t}个工作日内答复，答复率不低于{p}%。",
        "公众号每月推送信息不少于{k}期，原创内容比例不低于{p}%。",
        "推送内容须经采购人审核后发布，涉及案件的信息不得擅自发布。",
    ),
    "en": (
        "The supplier shall provide round-the-clock support and respond to faults within {t} hours.",
        "The supplier shall train at least {k} groups of at least {n2} staff each.",
        "Before acceptance the supplier shall run the system on trial for at least {m} months.",
        "Messages from the public shall be answered within {t} working days, with a reply rate "
        "of at least {p}%.",
        "The account shall publish at least {k} issues a month, of which at least {p}% original.",
        "Posts shall be approved by the purchaser; nothing about open cases may be published.",
    ),
}
SCORING = (  # (factor, points for a system project, points for an upkeep project, rule)
    ("价格", 30, 30, "满足采购文件要求且报价最低的为评标基准价，其价格分为满分；其他报价按比例计分。"),
    ("技术方案", 35, 25, "对需求理解、功能设计、技术路线和安全方案的完整性、可行性进行评价。"),
    ("实施与售后服务", 15, 20, "对实施计划、人员配置、培训和售后服务承诺进行评价。"),
    ("同类项目业绩", 10, 15, "近三年每提供一个同类项目合同得2分（小型项目每个得3分），最多得满分。"),
    ("企业资质与信誉", 10, 10, "具有相关资质证书、无不良记录的，按评分细则计分。"),
)
# fmt: on


# fmt: off
FUNCTION_DETAILS = {  # keyword in a function -> what a tender asks of it in detail
    "报警": (
        "报警页面应在3次点击内完成报警，支持一键报警和补充描述。",
        "报警人位置通过微信定位接口获取，在指挥中心电子地图上实时显示。",
        "支持报警人与接警员之间的文字、语音和视频交互，全程留存记录。",
    ),
    "实名": (
        "实名认证结果有效期由采购人配置，过期后需重新认证。",
        "认证失败时应提示原因，连续失败5次的账号锁定24小时。",
    ),
    "人脸": (
        "应具备活体检测能力，能够抵御照片、视频翻拍等攻击。",
        "比对阈值可由采购人配置，比对结果和比对照片按规定期限留存。",
    ),
    "警务云": (
        "数据交换应经公安信息通信网边界接入平台进行，不得直接连接公安信息网。",
        "提供标准化数据接口，接口目录和调用权限由采购人统一管理。",
        "建立数据质量校验机制，异常数据自动告警。",
    ),
    "人口信息": ("人口信息查询仅返回核验结果，不向互联网端返回原始数据。",),
    "网上派出所": (
        "提供业务办理进度查询和短信提醒。",
        "申请材料以图片形式上传，单件不超过5MB，支持格式校验。",
    ),
    "交通违法": (
        "违法处理和罚款缴纳应与交通管理综合应用平台实时同步。",
        "罚款缴纳对接银行及第三方支付渠道，支持电子票据。",
    ),
    "线索": (
        "群众提交线索时可选择是否留下联系方式，系统不得强制实名。",
        "线索按辖区自动分派，签收、核查、反馈全流程可追踪。",
        "对有价值的线索，经审核后可按规定给予奖励。",
    ),
    "公众号": (
        "推送内容须经采购人审核后发布。",
        "每月提交运营数据报告，包括粉丝数、阅读量和留言情况。",
    ),
    "警务室": ("群成员入群须经社区民警审核，群内信息按规定留存。",),
    "志愿者": ("志愿者信息仅用于积分管理和任务派发，不得用于其他用途。",),
    "驾驶证": ("驾驶证业务办理结果通过短信和公众号消息通知。",),
    "身份证": ("身份证信息读取后仅在核验期间使用，不在终端留存。",),
}
# fmt: on


def _clause(template: str, rng: random.Random) -> str:
    return template.format(
        n=rng.choice([500, 1000, 5000, 20000]),
        n2=rng.choice([10, 20, 30]),
        t=rng.choice([1, 2, 4]),
        k=rng.choice([2, 3, 4, 6]),
        m=rng.choice([3, 6, 12]),
        p=rng.choice([60, 80, 90, 95]),
    )


def _price_breakdown(d: Procurement, rng: random.Random) -> list[tuple[str, int]]:
    """Split the value over the functions in round hundreds, adding up to the total."""
    weights = [rng.uniform(1, 3) for _ in d.functions]
    shares = [round(d.value * weight / sum(weights) / 100) * 100 for weight in weights]
    shares[-1] = d.value - sum(shares[:-1])
    names = [re.split(r"[：，:,]", function, maxsplit=1)[0][:18] for function in d.functions]
    return list(zip(names, shares, strict=True))


def _function_details(d: Procurement) -> Iterator[Block]:
    """Each function of the project with the detailed requirements a tender spells out."""
    for number, function in enumerate(d.functions, start=1):
        name = re.split(r"[：，:,]", function, maxsplit=1)[0]
        yield "subheading", f"{number}.{name}"
        details = [
            line
            for keyword, lines in FUNCTION_DETAILS.items()
            if keyword in function
            for line in lines
        ]
        for letter, line in enumerate(details[:4] or [function + "。"], start=1):
            yield "item", f"（{letter}）{line}"


def _zh_clauses(d: Procurement, rng: random.Random, count: int) -> Iterator[Block]:
    small = d.value < SMALL_PROJECT
    pools = SERVICE_CLAUSES["zh"] if small else TECHNICAL_CLAUSES["zh"] + SERVICE_CLAUSES["zh"][:5]
    for number, template in enumerate(rng.sample(pools, min(len(pools), count)), start=1):
        yield "item", f"{number}. {_clause(template, rng)}"


def _zh_annex(d: Procurement, rng: random.Random) -> Iterator[Block]:
    small = d.value < SMALL_PROJECT
    if d.kind == "tender":
        yield "heading", "附件一：采购需求"
        background = f"为贯彻落实{_policy_basis(d)}，推进公安政务服务“网上办、掌上办”"
        yield "para", f"一、项目背景。{background}，{d.buyer}拟实施{d.project}。"
        sections = iter("二三四五")
        if not small:
            yield "subheading", f"{next(sections)}、功能需求。"
            yield from _function_details(d)
        yield "subheading", f"{next(sections)}、{'服务要求' if small else '技术与服务要求'}。"
        yield from (("item", line) for line in d.annex)
        yield from _zh_clauses(d, rng, 4 if small else 9)
        if not small:
            yield "subheading", f"{next(sections)}、验收要求。"
            yield "item", "1. 采购人按采购文件、投标文件和国家有关标准组织初验和终验。"
            yield "item", "2. 系统上线试运行期间发现的问题应在终验前全部整改完毕。"
            yield "item", "3. 供应商应移交全部源代码、接口文档、部署手册和用户手册。"
        yield "heading", "附件二：评分标准"
        yield "columns", "90|60|317"
        yield "head_row", "评分因素|分值|评分标准"
        for factor, large_points, small_points, rule in SCORING:
            yield "row", f"{factor}|{small_points if small else large_points}|{rule}"
        return
    yield (
        "heading",
        "附件：中标（成交）供应商分项报价表" if d.kind == "award" else "附件一：服务清单及分项价格",
    )
    yield "columns", "50|270|147"
    yield "head_row", f"序号|{'分项内容' if d.kind == 'award' else '服务内容'}|金额（元）"
    for number, (name, amount) in enumerate(_price_breakdown(d, rng), start=1):
        yield "row", f"{number}|{name}|{amount:,.2f}"
    yield "row", f"|合计|{d.value:,.2f}"
    yield from (("item", line) for line in d.annex)
    if d.kind == "contract" and not small:
        yield "heading", "附件二：技术与服务要求"
        yield from _function_details(d)
        yield "subheading", "其他要求："
        yield from _zh_clauses(d, rng, 6)


def _en_annex(d: Procurement, rng: random.Random) -> Iterator[Block]:
    yield "heading", "Annex: requirements in detail"
    yield from (("item", line) for line in d.annex)
    pools = SERVICE_CLAUSES["en"] if d.value < SMALL_PROJECT else TECHNICAL_CLAUSES["en"]
    for number, template in enumerate(rng.sample(pools, min(len(pools), 4)), start=1):
        yield "item", f"{number}. {_clause(template, rng)}"


_ANNEXES: dict[str, Callable[[Procurement, random.Random], Iterator[Block]]] = {
    "zh": _zh_annex,
    "en": _en_annex,
}


def _padding(language: Language, rng: random.Random) -> Iterator[Block]:
    """Endless further requirement clauses, for documents of an exact length."""
    yield "heading", "附件三：补充技术要求" if language == "zh" else "Supplementary requirements"
    pool = TECHNICAL_CLAUSES[language] + SERVICE_CLAUSES[language]
    number = 0
    while True:
        number += 1
        yield "item", f"{number}. {_clause(rng.choice(pool), rng)}"


# --- the corpus ------------------------------------------------------------------------------

TENCENT = "腾讯云计算（北京）有限责任公司"
TENCENT_ADDRESS = "北京市海淀区知春路49号3层西部309"
TENCENT_EN = "Tencent Cloud Computing (Beijing) Co., Ltd."

# fmt: off
CORPUS: tuple[Procurement, ...] = (
    Procurement(
        filename="fj_2016_tender_wei_jingwu.pdf", kind="tender", language="zh",
        province="Fujian", city="", level="provincial", date=(2016, 3, 18),
        buyer="福建省公安厅", buyer_address="福建省福州市鼓楼区示例路1号",
        project="“微警务”综合服务平台建设项目", number="[350000]FJZC[GK]2016031",
        method="public tender", value=12_800_000, agency="福建闽信招标代理有限公司（虚构）",
        functions=(
            "建设全省统一的“微警务”微信公众号和小程序入口，覆盖全省10个设区市（含平潭综合"
            "实验区），上线户政、治安、出入境、交管、网安等不少于300项服务功能",
            "微信报警：支持文字、图片、语音和实时音视频报警，自动获取报警人地理位置，报警信息"
            "实时推送至110接处警系统并反馈处置结果",
            "实名认证：对接“互联网+”可信身份认证平台，通过姓名、公民身份号码和人脸比对完成"
            "用户实名认证",
            "人脸识别：提供活体检测和人像比对服务，比对结果与全省人口信息管理系统实时核验",
            "警务云对接：与福建省公安厅警务云平台、人口信息库、出入境管理系统、交通管理综合"
            "应用平台进行数据交换",
            "网上派出所：提供户口迁移、居住证、无犯罪记录证明等业务的网上预约、办理和进度查询",
            "交通违法处理：违法记录查询、罚款缴纳、驾驶证期满换证及车辆检验预约",
            "线索举报：群众可上传文字、图片和视频线索，系统按属地自动分派至辖区公安机关",
        ),
        data_items=("真实姓名", "手机号码", "公民身份号码", "人脸照片", "地理位置",
                    "群众上传的图片和视频", "驾驶证及车辆号牌信息", "微信OpenID等设备信息"),
        targets=("2016年底前全省10个设区市全部接入", "平台上线服务事项不少于300项",
                 "关注用户数不少于500万"),
        duration="合同签订后12个月内完成建设并上线，免费运维3年。",
        qualification="具有信息系统集成及服务资质（二级及以上）；具有公安行业信息化项目实施经验。",
        annex=(
            "★ 微信报警模块应支持在弱网环境下自动降级为文字报警，报警人位置精度不低于50米。",
            "★ 实名认证接口调用应记录调用时间、调用账号及认证结果，日志保存不少于6个月。",
            "★ 人脸比对1:1核验通过率不低于99%，单次核验时间不超过3秒。",
            "★ 各设区市公安局的个性化服务应在统一入口下以“城市频道”形式接入。",
        ),
    ),
    Procurement(
        filename="fj_2016_award_wei_jingwu.pdf", kind="award", language="zh",
        province="Fujian", city="", level="provincial", date=(2016, 5, 6),
        buyer="福建省公安厅", buyer_address="福建省福州市鼓楼区示例路1号",
        project="“微警务”综合服务平台建设项目", number="[350000]FJZC[GK]2016031",
        method="public tender", value=12_360_000, vendor=TENCENT, vendor_address=TENCENT_ADDRESS,
        agency="福建闽信招标代理有限公司（虚构）",
        functions=("“微警务”公众号及小程序平台建设", "微信报警与110接处警系统对接",
                   "实名认证与人脸识别", "警务云及人口信息库数据对接",
                   "网上派出所与交通违法处理等300余项服务"),
        data_items=("公民身份号码", "人脸照片", "地理位置", "手机号码"),
        targets=("覆盖全省10个设区市",),
        duration="合同签订后12个月内完成建设，免费运维3年。",
    ),
    Procurement(
        filename="sh_2019_contract_wechat_police_rooms.pdf", kind="contract", language="zh",
        province="Shanghai", city="", level="provincial", date=(2019, 4, 12),
        buyer="上海市公安局", buyer_address="上海市黄浦区示例路128号",
        project="社区警务“微信警务室”工作平台运维服务项目", number="SHZC-2019-GA-0412",
        method="public tender", value=8_650_000,
        vendor="上海浦江数智科技有限公司（虚构）", vendor_address="上海市徐汇区示例路18号",
        functions=(
            "维护全市约6000个“微信警务室”，由社区民警担任群主，与辖区居民、物业、志愿者结对联系",
            "线索举报：居民可通过警务室提交文字、图片、视频线索，平台按街道自动分派并跟踪反馈",
            "群租、涉毒等线索的分类登记和统计，月度汇总报送市局",
            "平安志愿者积分管理：志愿者实名注册、巡逻签到（含地理位置）和积分兑换",
            "与市局大数据平台（警务云）对接，线索数据实时汇聚，支持按人员、地址关联研判",
            "防范电信网络诈骗等宣传内容的统一推送",
        ),
        data_items=("真实姓名", "手机号码", "公民身份号码", "居住地址", "地理位置",
                    "群众上传的图片和视频"),
        targets=("“微信警务室”覆盖全市所有社区（村）", "线索平均分派时间不超过30分钟",
                 "年度群众线索受理量统计准确率100%"),
        duration="2019年5月1日至2020年4月30日。",
        annex=("注：单个警务室成员不少于500人；线索数据须在市局内网存储，不得存储于互联网公有云。",),
    ),
    Procurement(
        filename="zj_2018_tender_face_verification.pdf", kind="tender", language="zh",
        province="Zhejiang", city="Wenzhou", level="prefectural", date=(2018, 7, 3),
        buyer="温州市公安局", buyer_address="浙江省温州市鹿城区示例大道88号",
        project="移动警务微信小程序人像核验模块采购项目", number="WZCG-2018-0703",
        method="public tender", value=3_200_000, agency="温州瓯江招标咨询有限公司（虚构）",
        functions=(
            "民警端：通过微信小程序拍摄人脸或扫描居民身份证，实时比对在逃人员库、重点人员库，"
            "3秒内返回核验结果",
            "群众端：“刷脸办”实名认证，用于户政、出入境业务的网上申请",
            "核验记录自动回传市局警务云，并与卡口、视频监控等数据关联",
            "移动终端管理：登记民警使用的手机型号和设备号，防止非授权设备访问",
        ),
        data_items=("人脸照片", "公民身份号码", "真实姓名", "地理位置", "设备号"),
        targets=("人像核验准确率不低于99%", "系统可用性不低于99.9%"),
        duration="合同签订后6个月内完成部署，质保2年。",
        qualification="具有人脸识别算法自主知识产权或合法授权；近三年具有公安行业同类项目业绩。",
    ),
    Procurement(
        filename="gd_2017_award_railway_wechat_alarm.pdf", kind="award", language="zh",
        province="Guangdong", city="Guangzhou", level="county", date=(2017, 9, 22),
        buyer="广州铁路公安局广州公安处", buyer_address="广东省广州市越秀区示例路20号",
        project="铁路“微信报警”平台建设项目", number="GZTL-GA-2017-022",
        method="competitive negotiation", value=1_480_000,
        vendor="广州羊城智联信息技术有限公司（虚构）", vendor_address="广州市天河区示例软件园B座",
        functions=("旅客在列车或车站通过微信报警，填写车次、车厢号并发送图片和位置",
                   "报警信息直达公安处指挥中心，值班民警可发起实时语音、视频通话",
                   "警情处置结果通过微信回复报警人"),
        data_items=("手机号码", "地理位置", "图片", "语音和视频"),
        duration="合同签订后90日内上线。",
    ),
    Procurement(
        filename="js_2017_tender_wechat_account_operation.pdf", kind="tender", language="zh",
        province="Jiangsu", city="Suqian", level="county", date=(2017, 2, 15),
        buyer="宿迁市沭东县公安局（虚构）", buyer_address="江苏省宿迁市沭东县人民路66号",
        project="“平安沭东”微信公众号运营服务项目", number="SDX-2017-GA-005",
        method="competitive consultation", value=280_000,
        functions=("公众号日常运营：发布警情通报、交通出行提示、防诈骗提醒",
                   "每周原创“民警故事”图文不少于1篇，节假日推出专题策划",
                   "粉丝互动：留言回复、线上有奖问答活动"),
        targets=("每周推送不少于3次", "一年内粉丝数达到5万人", "单篇阅读量平均不少于2000次"),
        duration="一年（2017年3月1日至2018年2月28日）。",
        qualification="具有新媒体运营经验，近两年运营过政务类公众号。",
    ),
    Procurement(
        filename="ha_2015_contract_account_upkeep.pdf", kind="contract", language="zh",
        province="Henan", city="Zhoukou", level="county", date=(2015, 6, 8),
        buyer="周口市清溪县公安局（虚构）", buyer_address="河南省周口市清溪县建设路12号",
        project="公安局微信公众号年度维护", number="QXX-2015-007",
        method="single source", value=36_000,
        vendor="周口清溪网络科技有限公司（虚构）", vendor_address="河南省周口市清溪县商贸街3号",
        functions=("办理公众号年度认证", "维护自定义菜单和自动回复", "每月推送工作动态不少于4条"),
        targets=("每月推送不少于4条",),
        duration="2015年7月1日至2016年6月30日。",
    ),
    Procurement(
        filename="gs_2014_award_account_setup.pdf", kind="award", language="zh",
        province="Gansu", city="Dingxi", level="county", date=(2014, 11, 20),
        buyer="定西市岷川县公安局（虚构）", buyer_address="甘肃省定西市岷川县东街8号",
        project="公安局官方微信公众号开通及宣传服务", number="MCX-2014-GA-011",
        method="inquiry", value=28_000,
        vendor="定西陇原网络科技有限公司（虚构）", vendor_address="甘肃省定西市安定区示例路5号",
        functions=("开通并认证公安局官方微信公众号", "设计公众号菜单和头像",
                   "发布公安工作动态和便民信息"),
        duration="合同签订后30日内开通，维护至2015年12月31日。",
    ),
    Procurement(
        filename="gz_2019_contract_traffic_services.pdf", kind="contract", language="zh",
        province="Guizhou", city="Guiyang", level="prefectural", date=(2019, 8, 30),
        buyer="贵阳市公安局交通管理局", buyer_address="贵州省贵阳市云岩区示例路99号",
        project="“贵阳交警”微信服务平台升级项目", number="GYCG-2019-JJ-0830",
        method="public tender", value=3_800_000,
        vendor="贵州黔云数据服务有限公司（虚构）", vendor_address="贵州省贵阳市观山湖区示例产业园",
        functions=(
            "交通违法查询与处理：绑定机动车和驾驶证后查询违法记录，在线确认处理并缴纳罚款",
            "驾驶证业务：期满换证、补证预约，体检信息上传",
            "机动车业务：年检预约和到期提醒",
            "事故快处：轻微事故当事人上传现场照片，民警远程定责",
            "路况信息和出行提示推送",
        ),
        data_items=("手机号码", "公民身份号码", "驾驶证号", "机动车号牌", "现场照片", "地理位置"),
        targets=("绑定用户数达到100万", "事故快处平均处理时间不超过15分钟"),
        duration="合同签订后5个月内完成升级，运维2年。",
    ),
    Procurement(
        filename="zj_2020_award_township_police_groups.pdf", kind="award", language="zh",
        province="Zhejiang", city="Huzhou", level="township", date=(2020, 3, 27),
        buyer="湖州市安南县公安局新桥派出所（虚构）", buyer_address="浙江省湖州市安南县新桥镇示例街1号",
        project="“微信警务群”建设和运营服务", number="ANX-XQ-2020-003",
        method="inquiry", value=65_000,
        vendor="湖州新桥文化传媒有限公司（虚构）", vendor_address="浙江省湖州市安南县新桥镇工业区2号",
        functions=("按行政村和社区建立微信警务群48个，社区民警担任群主",
                   "每周发布防诈骗、防盗提醒", "收集群众反映的治安线索并登记转交",
                   "组织平安志愿者在群内报到和接受任务"),
        data_items=("真实姓名", "手机号码", "群众反映的线索"),
        targets=("警务群覆盖全镇常住户籍家庭80%以上",),
        duration="一年。",
    ),
    Procurement(
        filename="js_2020_contract_online_police_station.pdf", kind="contract", language="zh",
        province="Jiangsu", city="Suzhou", level="prefectural", date=(2020, 10, 16),
        buyer="苏州市公安局", buyer_address="江苏省苏州市姑苏区示例路1号",
        project="“苏州网上派出所”微信小程序开发项目", number="SZCG-2020-GA-1016",
        method="public tender", value=2_450_000,
        vendor="苏州金鸡湖软件有限公司（虚构）", vendor_address="江苏省苏州市工业园区示例路18号",
        functions=(
            "网上报案：群众可就非紧急案件在线报案，上传证据材料，查询受理进度",
            "户政业务：户籍证明、居住证申领和签注的在线办理",
            "无犯罪记录证明在线申请和电子证明下载",
            "实名认证：通过人脸识别和公民身份号码核验用户身份",
            "与户政管理系统、执法办案系统对接，申请数据直接进入民警工作台",
        ),
        data_items=("真实姓名", "公民身份号码", "人脸照片", "手机号码", "上传的证据材料"),
        targets=("上线业务不少于60项", "网上办理率达到50%"),
        duration="合同签订后8个月内上线，免费维护1年。",
    ),
    Procurement(
        filename="fj_2018_contract_police_cloud_phase2.pdf", kind="contract", language="zh",
        province="Fujian", city="Xiamen", level="prefectural", date=(2018, 12, 5),
        buyer="厦门市公安局", buyer_address="福建省厦门市思明区示例路45号",
        project="“微警务”二期警务云数据对接服务", number="XMZC-2018-DY-1205",
        method="single source", value=5_600_000, vendor=TENCENT, vendor_address=TENCENT_ADDRESS,
        functions=(
            "在一期平台基础上，完成与市局警务云、常住和流动人口信息库的实时数据对接",
            "实时身份核验：群众办事时以人脸比对方式核验身份，核验结果写入人口信息库",
            "线索研判：群众举报线索与警务云中人员、车辆、地址信息自动关联",
            "数据接口服务：按照公安部标准提供接口，日调用量不少于100万次",
        ),
        data_items=("公民身份号码", "人脸照片", "手机号码", "地理位置", "微信OpenID", "车辆号牌"),
        targets=("接口可用性不低于99.95%",),
        duration="2019年1月1日至2020年12月31日。",
    ),
    Procurement(
        filename="gd_2016_tender_tips_and_wanted.pdf", kind="tender", language="zh",
        province="Guangdong", city="Meizhou", level="county", date=(2016, 8, 9),
        buyer="梅州市平远南县公安局（虚构）", buyer_address="广东省梅州市平远南县城北路9号",
        project="微信公众号运营及“全民禁毒”线索征集服务", number="PYN-2016-GA-009",
        method="competitive consultation", value=180_000,
        functions=("发布悬赏通告和通缉令", "开设线索举报栏目，群众可匿名提交涉毒线索和图片",
                   "禁毒宣传专题，每月不少于2期", "公众号日常运营和留言回复"),
        data_items=("群众上传的线索和图片", "手机号码（自愿填写）"),
        targets=("粉丝数一年内达到3万人", "月均收集有效线索不少于20条"),
        duration="一年。",
    ),
    Procurement(
        filename="ha_2021_tender_wechat_alarm_110.pdf", kind="tender", language="zh",
        province="Henan", city="Luoyang", level="prefectural", date=(2021, 4, 19),
        buyer="洛阳市公安局", buyer_address="河南省洛阳市洛龙区示例大道17号",
        project="“微信报警”与110警情联动系统建设项目", number="LYCG-2021-GA-0419",
        method="public tender", value=4_200_000, agency="洛阳河洛招标有限公司（虚构）",
        functions=(
            "微信报警：群众通过公众号一键报警，系统自动获取定位，支持文字、图片、语音和实时视频",
            "实名认证：报警人通过手机号码和身份证号码验证身份，防止恶意报假警",
            "与110接处警系统联动：警情自动生成接警单，就近推送至处警民警移动终端",
            "处警过程记录：报警人与民警的音视频通话全程录音录像并存档",
        ),
        data_items=("真实姓名", "手机号码", "公民身份号码", "地理位置", "语音和视频"),
        targets=("报警信息到达指挥中心时间不超过5秒",),
        duration="合同签订后6个月内完成建设，运维3年。",
        qualification="具有公安视频类或指挥调度类系统建设业绩。",
    ),
    Procurement(
        filename="fj_2016_tender_summary_en.pdf", kind="tender", language="en",
        province="Fujian", city="", level="provincial", date=(2016, 3, 18),
        buyer="Fujian Provincial Public Security Department",
        buyer_address="Fuzhou, Fujian (sample address)",
        project="'WeChat Policing' (Wei Jingwu) integrated service platform",
        number="[350000]FJZC[GK]2016031", method="public tender", value=12_800_000,
        translation_of="fj_2016_tender_wei_jingwu.pdf",
        functions=(
            "One 'WeChat Policing' official account and mini-program for the whole province, "
            "covering its 10 cities and at least 300 services (household registration, public "
            "order, exit-entry, traffic, cybersecurity).",
            "WeChat alarm: text, picture, voice and real-time audio/video reports; the caller's "
            "location is taken automatically and the report is pushed to the 110 dispatch system.",
            "Real-name verification against the trusted identity platform, with name, national "
            "ID number and face comparison.",
            "Face recognition with liveness detection, checked in real time against the "
            "provincial population information system.",
            "Integration with the police cloud, the population database, exit-entry and traffic "
            "systems.",
            "Online police station, traffic fines, and tip reporting with pictures and video.",
        ),
        data_items=("real name", "mobile phone number", "national ID number", "face photo",
                    "geolocation", "uploaded pictures and video", "driver's licence and plate",
                    "WeChat OpenID and device data"),
        targets=("All 10 cities connected by the end of 2016", "At least 300 services online",
                 "At least 5 million followers"),
        duration="Built within 12 months of signing; 3 years of free maintenance.",
        qualification="System integration qualification (level 2 or above) and experience of "
                      "police information projects.",
    ),
    Procurement(
        filename="ha_2015_contract_translation_en.pdf", kind="contract", language="en",
        province="Henan", city="Zhoukou", level="county", date=(2015, 6, 8),
        buyer="Qingxi County Public Security Bureau (fictional)",
        buyer_address="Qingxi County, Zhoukou, Henan (sample address)",
        project="Annual upkeep of the county police WeChat account", number="QXX-2015-007",
        method="single source", value=36_000,
        vendor="Zhoukou Qingxi Network Technology Co., Ltd. (fictional)",
        vendor_address="Qingxi County, Zhoukou",
        translation_of="ha_2015_contract_account_upkeep.pdf",
        functions=("Renew the account's annual verification.",
                   "Keep the custom menu and automatic replies working.",
                   "Post at least four work updates a month."),
        targets=("At least 4 posts a month",),
        duration="1 July 2015 to 30 June 2016.",
    ),
    Procurement(
        filename="sh_2019_contract_summary_en.pdf", kind="contract", language="en",
        province="Shanghai", city="", level="provincial", date=(2019, 4, 12),
        buyer="Shanghai Public Security Bureau", buyer_address="Huangpu District, Shanghai",
        project="Operation of the 'WeChat police rooms' community policing platform",
        number="SHZC-2019-GA-0412", method="public tender", value=8_650_000,
        vendor="Shanghai Pujiang Digital Intelligence Technology Co., Ltd. (fictional)",
        vendor_address="Xuhui District, Shanghai",
        translation_of="sh_2019_contract_wechat_police_rooms.pdf",
        functions=(
            "Maintain about 6,000 'WeChat police rooms', chat groups led by community officers "
            "with residents, property managers and volunteers.",
            "Tip reporting with text, pictures and video, routed to the sub-district and tracked.",
            "Registering tips about illegal group rentals and drugs; monthly statistics.",
            "Volunteer points: real-name registration, patrol check-ins with location, rewards.",
            "Real-time connection to the bureau's big-data platform (police cloud) for linking "
            "tips to people and addresses.",
        ),
        data_items=("real name", "mobile phone number", "national ID number", "address",
                    "geolocation", "uploaded pictures and video"),
        targets=("Every community covered", "Tips routed within 30 minutes on average"),
        duration="1 May 2019 to 30 April 2020.",
    ),
)
# fmt: on


# --- media reports (HTML) -------------------------------------------------------------------


@dataclass(frozen=True)
class MediaReport:
    """A synthetic news page and its metadata."""

    filename: str
    language: Language
    province: str
    city: str
    level: str
    year: int
    title: str
    byline: str
    body: str

    def html(self) -> str:
        """The page, with the ordinary markup of a news site around the article."""
        zh = self.language == "zh"
        return _PAGE.format(
            lang="zh-CN" if zh else "en",
            title=self.title,
            byline=self.byline,
            body=self.body.strip(),
            home="首页" if zh else "Home",
            section="社会" if zh else "Society",
            notice=MEDIA_NOTICE[self.language],
        )


MEDIA_NOTICE = {
    "zh": "合成演示文件：本报道系虚构示例，人物、数字和媒体名称均为虚构。",
    "en": "Synthetic demo document: a fictional report; names, figures and outlet are invented.",
}
_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: serif; max-width: 42em; margin: 2em auto; line-height: 1.7; }}
  .byline, .notice {{ color: #666; font-size: 0.9em; }}
</style>
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "article"}});</script>
</head>
<body>
<header><nav><a href="/">{home}</a> &rsaquo; <a href="/society">{section}</a></nav></header>
<article>
<h1>{title}</h1>
<p class="byline">{byline}</p>
{body}
</article>
<footer><p class="notice">{notice}</p></footer>
</body>
</html>
"""

# fmt: off
MEDIA_REPORTS: tuple[MediaReport, ...] = (
    MediaReport(
        filename="sh_2019_report_wechat_police_rooms_zh.html", language="zh",
        province="Shanghai", city="", level="provincial", year=2019,
        title="6000个“微信警务室”收到群众线索11万余条",
        byline="示例晚报记者 周某 &nbsp;|&nbsp; 2019年12月3日",
        body="""
<p>　　记者从上海市公安局获悉，全市6000个“微信警务室”开通以来，共收到群众提供的各类线索
11万余条，其中群租房、涉毒线索占比较高。</p>
<p>　　“微信警务室”由社区民警担任群主，居民、物业人员和平安志愿者加入。群众发现可疑情况，
可以直接在群内向民警反映，也可以上传照片和视频。</p>
<figure><img src="police-room.jpg" alt="社区民警查看微信警务室消息">
<figcaption>社区民警在查看“微信警务室”的群众留言（资料图）</figcaption></figure>
<p>　　据介绍，线索经登记后汇入市局大数据平台，与人口、房屋信息比对。某区一名社区民警说：
“以前靠上门走访，现在居民在群里发个消息，我们就能第一时间处置。”</p>
<blockquote>“线索多了，群众参与感也强了。”——一位平安志愿者</blockquote>
<p>　　也有居民担心上传的个人信息如何保存。市公安局有关负责人表示，线索数据在公安内网存储，
仅用于核查处置。</p>
""",
    ),
    MediaReport(
        filename="fj_2017_report_wei_jingwu_launch_zh.html", language="zh",
        province="Fujian", city="", level="provincial", year=2017,
        title="福建“微警务”全省上线 300余项服务“掌上办”",
        byline="示例日报 2017年1月16日 &middot; 记者 林某",
        body="""
<p>　　1月15日，福建省公安厅“微警务”平台在全省10个设区市全面上线。群众关注公众号后，
可办理户政、出入境、交管等300余项业务，还可以通过微信报警和举报线索。</p>
<h2>刷脸认证 &amp; 实名办理</h2>
<p>　　办理业务前，群众需通过姓名、身份证号码和人脸比对完成实名认证。省公安厅有关负责人介绍，
平台与全省警务云和人口信息库对接，“数据多跑路，群众少跑腿”。</p>
<ul>
<li>微信报警：可发送文字、图片、语音和视频，自动定位</li>
<li>网上派出所：户口迁移、居住证等业务网上预约</li>
<li>交通违法：查询、处理和缴纳罚款</li>
</ul>
<p>　　截至发稿，平台关注用户已超过300万。</p>
""",
    ),
    MediaReport(
        filename="gd_2018_report_railway_wechat_alarm_en.html", language="en",
        province="Guangdong", city="Guangzhou", level="county", year=2018,
        title="Railway police in Guangzhou take emergency calls over WeChat",
        byline="By a staff reporter &middot; Sample Daily &middot; 14 May 2018",
        body="""
<p>Passengers who run into trouble on trains around Guangzhou can now call the railway police
without leaving WeChat. The &ldquo;WeChat alarm&rdquo; of the Guangzhou division of the
railway police asks for the train number and carriage, takes the caller&rsquo;s location,
and accepts photos.</p>
<p>Reports go straight to the division&rsquo;s command centre, where officers on duty can
start a live voice or video call with the passenger. &ldquo;We can see what is happening
before the train reaches the next station,&rdquo; an officer said.</p>
<table>
<caption>WeChat alarm in its first six months (figures given by the division)</caption>
<tr><th>Reports</th><th>Handled on board</th><th>Video calls</th></tr>
<tr><td>1,260</td><td>1,034</td><td>312</td></tr>
</table>
<p>Privacy advocates note that the system records the calls and keeps callers&rsquo; phone
numbers; the division says the data stays on police servers.</p>
""",
    ),
    MediaReport(
        filename="gs_2020_report_zombie_accounts_zh.html", language="zh",
        province="Gansu", city="Dingxi", level="county", year=2020,
        title="有的县级公安公众号成“僵尸号” 半年未更新",
        byline="示例观察 2020年9月2日 | 记者 王某",
        body="""
<p>　　记者近日调查发现，甘肃省部分县级公安机关的微信公众号长期无人维护：有的最近一次推送
停留在半年前，菜单链接失效，群众留言无人回复。</p>
<p>　　以岷川县公安局（化名）公众号为例，该号于2014年开通，开通之初每月发布工作动态，
2016年后更新逐渐减少。“当时是为了完成考核任务开的号，后来没有专人负责。”一位知情人士说。</p>
<p>　　受访专家认为，基层公安机关人手和经费有限，<em>“重开通、轻运营”</em>的现象并不少见。
与其追求账号数量，不如整合到市级平台统一运营。</p>
""",
    ),
)
# fmt: on


# --- the benchmark helper and the script -------------------------------------------------

# fmt: off
_RANDOM_BUYERS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "zh": (
        ("Fujian", "", "provincial", "福建省公安厅"),
        ("Zhejiang", "Ningbo", "prefectural", "宁波市公安局"),
        ("Jiangsu", "Nantong", "prefectural", "南通市公安局"),
        ("Henan", "Nanyang", "county", "南阳市白河县公安局（虚构）"),
        ("Guizhou", "Zunyi", "county", "遵义市赤岭县公安局（虚构）"),
        ("Gansu", "Tianshui", "township", "天水市秦安北县公安局东关派出所（虚构）"),
    ),
    "en": (
        ("Fujian", "", "provincial", "Fujian Provincial Public Security Department"),
        ("Zhejiang", "Ningbo", "prefectural", "Ningbo Municipal Public Security Bureau"),
        ("Henan", "Nanyang", "county", "Baihe County Public Security Bureau (fictional)"),
        ("Gansu", "Tianshui", "township", "Dongguan Police Station (fictional), Tianshui"),
    ),
}
_RANDOM_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "zh": (
        "微信报警：支持文字、图片、语音报警，自动获取报警人位置",
        "实名认证：通过姓名、公民身份号码和人脸比对核验用户身份",
        "人脸识别：活体检测与人像比对，比对结果实时回传",
        "警务云对接：与人口信息库、交通管理系统进行数据交换",
        "网上派出所：户政、出入境业务网上预约和办理",
        "交通违法处理：违法查询、罚款缴纳和驾驶证业务",
        "线索举报：群众上传文字、图片和视频线索",
        "微信公众号运营：每周推送警务资讯，粉丝数达到5万人",
        "社区警务群：社区民警担任群主，收集治安线索",
    ),
    "en": (
        "WeChat alarm with text, pictures and voice; the caller's location is taken automatically.",
        "Real-name verification with name, national ID number and face comparison.",
        "Face recognition with liveness detection, results returned in real time.",
        "Integration with the population database and traffic systems.",
        "Online police station for household registration and exit-entry services.",
        "Traffic fines: look-up, payment and driver's licence services.",
        "Tip reporting with text, pictures and video.",
        "Official account operation: weekly posts, 50,000 followers within a year.",
    ),
}
# fmt: on


def make_procurement_pdf(path: str | Path, *, pages: int, language: Language, seed: int) -> None:
    """Write a random synthetic procurement PDF of exactly ``pages`` pages, for benchmarks.

    The same seed gives the same file. Chinese documents use the non-embedded STSong-Light
    font like the demo corpus; when ``pages`` is too few for the text, the text is cut short.
    """
    if pages < 1:
        raise ValueError("a PDF needs at least one page")
    _register_fonts()
    rng = random.Random(seed)
    province, city, level, buyer = rng.choice(_RANDOM_BUYERS[language])
    zh = language == "zh"
    document = Procurement(
        filename=Path(path).name,
        kind=rng.choice(["tender", "award", "contract"]),
        language=language,
        province=province,
        city=city,
        level=level,
        date=(rng.randint(2014, 2021), rng.randint(1, 12), rng.randint(1, 28)),
        buyer=buyer,
        buyer_address="示例地址" if zh else "sample address",
        project="微信警务服务项目" if zh else "WeChat policing services",
        number=f"BENCH-{seed:06d}",
        method=rng.choice(sorted(METHODS)),
        value=rng.randrange(20_000, 15_000_000, 1000),
        functions=tuple(rng.sample(_RANDOM_FUNCTIONS[language], rng.randint(2, 6))),
        data_items=("手机号码", "地理位置") if zh else ("phone number", "geolocation"),
        vendor=TENCENT if zh else TENCENT_EN,
        vendor_address=TENCENT_ADDRESS if zh else "Haidian District, Beijing",
        duration="一年。" if zh else "One year.",
    )
    render(document, Path(path), seed=seed, pages=pages)


def _register_fonts() -> None:
    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))


def _metadata_row(document: Procurement | MediaReport) -> dict[str, str]:
    stem = document.filename.rsplit(".", 1)[0]
    row = {
        "filename": document.filename,
        "province": document.province,
        "city": document.city,
        "level": document.level,
        "year": str(document.year),
        "language": document.language,
    }
    if isinstance(document, MediaReport):
        return row | {
            "value": "",
            "vendor": "",
            "kind": "media_report",
            "source_url": f"https://news.demo.invalid/{stem}",
            "procurement_method": "",
        }
    return row | {
        "value": str(document.value),
        "vendor": document.vendor,
        "kind": document.kind,
        # The .invalid top-level domain never resolves: no link points at a real site.
        "source_url": f"https://procurement.demo.invalid/{stem}",
        "procurement_method": document.method,
    }


def main() -> None:
    """Write the demo corpus and its metadata.csv."""
    _register_fonts()
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    for old in CORPUS_DIR.iterdir():
        if old.is_file() and not old.name.startswith("."):
            old.unlink()
    for index, document in enumerate(CORPUS):
        pages = render(document, CORPUS_DIR / document.filename, seed=SEED + index)
        if pages not in PAGE_RANGE:
            raise SystemExit(f"{document.filename}: {pages} pages, outside {PAGE_RANGE}")
        print(f"{document.filename}: {pages} pages")
    for report in MEDIA_REPORTS:
        (CORPUS_DIR / report.filename).write_text(report.html(), encoding="utf-8")
    with METADATA_CSV.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=METADATA_COLUMNS, lineterminator="\n")
        writer.writeheader()
        items: tuple[Procurement | MediaReport, ...] = (*CORPUS, *MEDIA_REPORTS)
        for item in items:
            writer.writerow(_metadata_row(item))
    total = sum(path.stat().st_size for path in CORPUS_DIR.iterdir())
    print(f"{len(CORPUS) + len(MEDIA_REPORTS)} documents, {total / 1024:.0f} KB in {CORPUS_DIR}")


if __name__ == "__main__":
    main()
