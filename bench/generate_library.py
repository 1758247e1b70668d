"""A deterministic synthetic expert library, as an import CSV (docs/import-format.md).

    .venv/bin/python bench/generate_library.py --count 100000 --seed 1 --out /tmp/experts-100k.csv
        [--data-dir ../shared/data]   # where discipline-standard-2018.csv and -2010-trial.csv are

The same ``--count`` and ``--seed`` give a byte-identical file: every draw comes from one
``random.Random(seed)``, tables are iterated in a fixed order, and no clock is read. Rows are
written as they are made (only the identifiers already used are kept, for uniqueness):
1,000,000 rows take about 30 s and 180 MB of memory. Every row is valid for ``CreateExpert``
from 2026-11-25 on: check characters come from ``expert_draw.core.identifiers``, every date
lies between 1950-01-01 and 2026-11-25, and every discipline is a code of the 2018 edition
(level 2 or 3) or, for 1 % of rows, of the 2010 trial edition (which the service must have
loaded). A summary
(rows, seconds, file size) goes to stderr. docs/library-generator.md has measured figures.

What is drawn (intended shares; docs/library-generator.md lists the measured ones):

- 职称 level 初级 5 %, 中级 25 %, 副高级 45 %, 正高级 25 %; the title name from a series
  (工程, 建筑, 经济, 会计, 审计, 高校教师, 研究, 卫生) chosen by the first discipline's 门类.
  Birth dates (1950-01-01 to 1996-12-31) follow a triangular law whose mode depends on the
  level (1993 for 初级 down to 1968 for 正高级); work starts at age 21-26 and the title
  some years later (1-3 for 初级, 4-9 中级, 8-16 副高级, 14-26 正高级), or at a uniform day
  after work start when that would pass 2026-11-25.
- 身份证号: a GB/T 2260-form region of the home province (31 provinces 11-65, weighted by
  population; real prefecture codes, county digits 01-16 or 02-12), the birth date, a
  sequence whose parity gives the gender (70 % male), the GB 11643 check digit; unique.
- Phones: unique, a real mobile prefix (130-199) and eight random digits. Names: common
  surnames (weighted by frequency) and one or two given-name characters by gender. E-mail
  for 60 % (pinyin or QQ numbers at 163.com, qq.com, 126.com ...).
- Disciplines: 1 (45 %), 2 (35 %) or 3 (20 %) codes of the 2018 edition, 二级 15 % and
  三级 85 %, 门类 工程 A 55 %, 货物 B 20 %, 服务 C 25 %. Inside each 门类 and level the codes
  are shuffled and drawn with Zipf-Mandelbrot weights 1/(rank + 3), so a few disciplines have
  many experts and most have few. A second or third code is half the time from the first
  code's 一级 discipline; codes never nest (no ancestor with its descendant). 1 % of experts
  hold a single code of the 2010 trial edition (``2010-trial:CODE``) and nothing current.
- Employers: max(50, count // 40) organisations with valid 统一社会信用代码 (registration
  authority and kind matching the name: 91 companies, 12 public institutions, 31 law firms,
  51 associations; the 9-character organisation code carries its GB 11714 check) and names
  such as 苏州市建筑设计研究院有限公司, placed by where experts work. Employer sizes are
  Zipf-Mandelbrot 1/(rank + 2): 90 % of experts work for an organisation of their work
  province, 10 % for one anywhere. 30 % also have a ``registration`` with another
  organisation (60 % of those with a qualification, 14 % of the others), 15 % a past
  ``employer`` that ended before the current one began, 5 % a ``declared_avoid`` and 3 % a
  ``relative`` organisation.
- region_code: the home province for 85 %, else a province that draws workers (Beijing,
  Shanghai, Guangdong, Jiangsu, Zhejiang ...); the employer's city for 70 % of those working
  in the employer's province. accepts_remote 是 40 %; library_type provincial 90 %,
  state_council 7 %, other 3 %; review approved 95 %, provisional 5 %; declaration_date
  95 % (since 2023); training_date 80 % (three in four within the last two years);
  age_exempt about 1 % (7 % of experts aged 65 or more, 0.3 % of the others);
  qualifications 35 % (one, or two for a quarter of them, registered after work start).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import itertools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from classification import Edition, read_edition
from expert_draw.core.identifiers import USCC_ALPHABET, resident_id_check, uscc_check

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

T = TypeVar("T")

COLUMNS = (
    "full_name", "resident_id_number", "phone", "email", "title_level", "title_name",
    "title_date", "work_start_date", "qualifications", "disciplines", "region_code",
    "accepts_remote", "library_type", "review", "declaration_date", "training_date",
    "age_exempt", "affiliations", "employer_code", "employer_name", "employer_since",
)  # fmt: skip
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
CURRENT_EDITION = ("discipline-standard-2018.csv", "2018")
TRIAL_EDITION = ("discipline-standard-2010-trial.csv", "2010-trial")

FIRST_BIRTH = dt.date(1950, 1, 1).toordinal()
LAST_BIRTH = dt.date(1996, 12, 31).toordinal()
LAST_DAY = dt.date(2026, 11, 25).toordinal()  # every date lies before 2026-11-26
DECLARATIONS_FROM = dt.date(2023, 1, 1).toordinal()
RECENT_TRAINING_FROM = dt.date(2024, 11, 26).toordinal()
OLD_TRAINING_FROM = dt.date(2019, 1, 1).toordinal()
YEAR = 365.25

MALE_SHARE = 0.70
EMAIL_SHARE = 0.60
STAY_HOME_SHARE = 0.85  # region_code in the home (身份证) province
LOCAL_EMPLOYER_SHARE = 0.90  # employer in the work province
EMPLOYER_CITY_SHARE = 0.70  # region_code in the employer's city
TRIAL_ONLY_SHARE = 0.01
LEVEL3_SHARE = 0.85
SAME_GROUP_SHARE = 0.50  # a further code from the first code's 一级 discipline
QUALIFIED_SHARE = 0.35
REGISTRATION_SHARE = {True: 0.60, False: 0.09 / 0.65}  # by "has a qualification": 30 % overall
PAST_EMPLOYER_SHARE = 0.15
DECLARED_AVOID_SHARE = 0.05
RELATIVE_SHARE = 0.03
REMOTE_SHARE = 0.40
DECLARATION_SHARE = 0.95
TRAINING_SHARE = 0.80
RECENT_TRAINING_SHARE = 0.75
AGE_EXEMPT_SHARE = {True: 0.07, False: 0.003}  # by "aged 65 or more on 2026-11-25"
DISCIPLINE_ZIPF_Q = 3.0
EMPLOYER_ZIPF_Q = 2.0
MIN_ORGANISATIONS = 50
EXPERTS_PER_ORGANISATION = 40


class Weighted(Generic[T]):
    """Items drawn with fixed weights: one ``random()`` and a bisection per draw."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        """Keep the items and their cumulative weights (same length, total > 0)."""
        self._items = tuple(items)
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1]

    def __len__(self) -> int:
        """The number of items."""
        return len(self._items)

    def pick(self, rng: random.Random) -> T:
        """One item, with probability proportional to its weight."""
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


def zipf(n: int, q: float) -> list[float]:
    """Zipf-Mandelbrot weights ``1 / (rank + q)`` for ranks 1..n."""
    return [1.0 / (rank + q) for rank in range(1, n + 1)]


def table(text: str) -> Weighted[str]:
    """A ``Weighted`` from ``item weight`` lines."""
    rows = [line.rsplit(maxsplit=1) for line in text.strip().splitlines()]
    return Weighted([item for item, _ in rows], [float(weight) for _, weight in rows])


def between(rng: random.Random, low: int, high: int) -> int:
    """A uniform whole number in ``[low, high]`` (``low`` when the range is empty)."""
    return low + int(rng.random() * (high - low + 1)) if high > low else low


def add_years(ordinal: int, years: int) -> int:
    """The same calendar day ``years`` later (29 February becomes 1 March)."""
    date = dt.date.fromordinal(ordinal)
    try:
        return date.replace(year=date.year + years).toordinal()
    except ValueError:  # 29 February in a common year
        return dt.date(date.year + years, 3, 1).toordinal()


def day(ordinal: int) -> str:
    """``YYYY-MM-DD`` of a proleptic Gregorian ordinal."""
    return dt.date.fromordinal(ordinal).isoformat()


# -- places --------------------------------------------------------------------------------

# code, name, population (millions: where experts come from), pull (where movers go), then
# the prefecture-level cities as GB/T 2260 two-digit code and name, the capital first; an
# indented line continues the one before.
PROVINCES_TEXT = """
11 北京 22 20 01北京
12 天津 14 4 01天津
13 河北 74 1 01石家庄 02唐山 03秦皇岛 04邯郸 05邢台 06保定 07张家口 08承德 09沧州 10廊坊 11衡水
14 山西 35 0 01太原 02大同 03阳泉 04长治 05晋城 06朔州 07晋中 08运城 09忻州 10临汾 11吕梁
15 内蒙古 24 0 01呼和浩特 02包头 03乌海 04赤峰 05通辽 06鄂尔多斯 07呼伦贝尔 08巴彦淖尔 09乌兰察布
21 辽宁 42 1 01沈阳 02大连 03鞍山 04抚顺 05本溪 06丹东 07锦州 08营口 09阜新 10辽阳 11盘锦 12铁岭 13朝阳 14葫芦岛
22 吉林 24 0 01长春 02吉林 03四平 04辽源 05通化 06白山 07松原 08白城
23 黑龙江 31 0 01哈尔滨 02齐齐哈尔 03鸡西 04鹤岗 05双鸭山 06大庆 07伊春 08佳木斯 09七台河 10牡丹江 11黑河 12绥化
31 上海 25 18 01上海
32 江苏 85 12 01南京 02无锡 03徐州 04常州 05苏州 06南通 07连云港 08淮安 09盐城 10扬州 11镇江 12泰州 13宿迁
33 浙江 66 12 01杭州 02宁波 03温州 04嘉兴 05湖州 06绍兴 07金华 08衢州 09舟山 10台州 11丽水
34 安徽 61 1 01合肥 02芜湖 03蚌埠 04淮南 05马鞍山 06淮北 07铜陵 08安庆 10黄山 11滁州 12阜阳 13宿州 15六安 16亳州 17池州 18宣城
35 福建 42 3 01福州 02厦门 03莆田 04三明 05泉州 06漳州 07南平 08龙岩 09宁德
36 江西 45 0 01南昌 02景德镇 03萍乡 04九江 05新余 06鹰潭 07赣州 08吉安 09宜春 10抚州 11上饶
37 山东 102 3 01济南 02青岛 03淄博 04枣庄 05东营 06烟台 07潍坊 08济宁 09泰安 10威海 11日照 13临沂 14德州 15聊城 16滨州 17菏泽
41 河南 99 1 01郑州 02开封 03洛阳 04平顶山 05安阳 06鹤壁 07新乡 08焦作 09濮阳 10许昌 11漯河 12三门峡 13南阳 14商丘 15信阳 16周口 17驻马店
42 湖北 58 4 01武汉 02黄石 03十堰 05宜昌 06襄阳 07鄂州 08荆门 09孝感 10荆州 11黄冈 12咸宁 13随州
43 湖南 66 2 01长沙 02株洲 03湘潭 04衡阳 05邵阳 06岳阳 07常德 08张家界 09益阳 10郴州 11永州 12怀化 13娄底
44 广东 127 20 01广州 02韶关 03深圳 04珠海 05汕头 06佛山 07江门 08湛江 09茂名 12肇庆 13惠州
  14梅州 15汕尾 16河源 17阳江 18清远 19东莞 20中山 51潮州 52揭阳 53云浮
45 广西 50 0 01南宁 02柳州 03桂林 04梧州 05北海 06防城港 07钦州 08贵港 09玉林 10百色 11贺州 12河池 13来宾 14崇左
46 海南 10 2 01海口 02三亚 04儋州
50 重庆 32 2 01重庆
51 四川 84 4 01成都 03自贡 04攀枝花 05泸州 06德阳 07绵阳 08广元 09遂宁 10内江 11乐山 13南充
  14眉山 15宜宾 16广安 17达州 18雅安 19巴中 20资阳
52 贵州 39 1 01贵阳 02六盘水 03遵义 04安顺 05毕节 06铜仁
53 云南 47 1 01昆明 03曲靖 04玉溪 05保山 06昭通 07丽江 08普洱 09临沧
54 西藏 4 0 01拉萨 02日喀则 03昌都 04林芝 05山南 06那曲
61 陕西 40 3 01西安 02铜川 03宝鸡 04咸阳 05渭南 06延安 07汉中 08榆林 09安康 10商洛
62 甘肃 25 0 01兰州 02嘉峪关 03金昌 04白银 05天水 06武威 07张掖 08平凉 09酒泉 10庆阳 11定西 12陇南
63 青海 6 0 01西宁 02海东
64 宁夏 7 0 01银川 02石嘴山 03吴忠 04固原 05中卫
65 新疆 26 1 01乌鲁木齐 02克拉玛依 04吐鲁番 05哈密
"""
CAPITAL_WEIGHT = 4.0  # the capital counts as four other cities (experts and organisations)


@dataclass(frozen=True, slots=True)
class Province:
    """A province-level division and its prefecture-level cities."""

    code: str
    name: str
    population: float
    pull: float
    cities: Weighted[tuple[str, str]]  # (two-digit code, name)
    counties: range  # the last two digits of a county-level code

    def city(self, rng: random.Random) -> tuple[str, str]:
        """A city, the capital weighted ``CAPITAL_WEIGHT``."""
        return self.cities.pick(rng)

    def region(self, rng: random.Random, city: str) -> str:
        """A six-digit county-level code in ``city``."""
        return f"{self.code}{city}{self.counties[int(rng.random() * len(self.counties))]:02d}"


def _provinces() -> tuple[Province, ...]:
    provinces = []
    for line in PROVINCES_TEXT.strip().replace("\n  ", " ").splitlines():
        code, name, population, pull, *cities = line.split()
        municipality = len(cities) == 1
        provinces.append(
            Province(
                code=code,
                name=name,
                population=float(population),
                pull=float(pull),
                cities=Weighted(
                    [(c[:2], c[2:]) for c in cities],
                    [CAPITAL_WEIGHT] + [1.0] * (len(cities) - 1),
                ),
                counties=range(1, 17) if municipality else range(2, 13),
            )
        )
    return tuple(provinces)


PROVINCES = _provinces()
HOME = Weighted(PROVINCES, [p.population for p in PROVINCES])
MOVED = Weighted(PROVINCES, [p.pull for p in PROVINCES])
_POPULATION = sum(p.population for p in PROVINCES)
_PULL = sum(p.pull for p in PROVINCES)
WORK = Weighted(  # where experts work, and so where organisations are
    PROVINCES,
    [
        STAY_HOME_SHARE * p.population / _POPULATION + (1 - STAY_HOME_SHARE) * p.pull / _PULL
        for p in PROVINCES
    ],
)

# -- people --------------------------------------------------------------------------------

# surname, pinyin, frequency (per mille of the population, roughly)
SURNAMES_TEXT = """
王 wang 71,李 li 70,张 zhang 67,刘 liu 54,陈 chen 45,杨 yang 31,黄 huang 22,赵 zhao 20,
吴 wu 19,周 zhou 19,徐 xu 13,孙 sun 13,马 ma 11,朱 zhu 11,胡 hu 11,郭 guo 10,何 he 9,林 lin 9,
高 gao 9,罗 luo 9,郑 zheng 8,梁 liang 8,谢 xie 7,宋 song 6,唐 tang 6,许 xu 6,韩 han 5,邓 deng 5,
冯 feng 5,曹 cao 5,彭 peng 5,曾 zeng 5,肖 xiao 5,田 tian 4,董 dong 4,潘 pan 4,袁 yuan 4,蔡 cai 3,
蒋 jiang 3,余 yu 3,于 yu 3,杜 du 3,叶 ye 3,程 cheng 3,魏 wei 3,苏 su 3,吕 lv 3,丁 ding 3,任 ren 3,
卢 lu 3,姚 yao 3,沈 shen 3,钟 zhong 3,姜 jiang 3,崔 cui 3,谭 tan 3,陆 lu 2,范 fan 2,汪 wang 2,
廖 liao 2,石 shi 2,金 jin 2,韦 wei 2,贾 jia 2,夏 xia 2,付 fu 2,方 fang 2,邹 zou 2,熊 xiong 2,
白 bai 2,孟 meng 2,秦 qin 2,邱 qiu 2,侯 hou 2,江 jiang 2,尹 yin 2,薛 xue 2,闫 yan 2,段 duan 2,
雷 lei 2,龙 long 1,黎 li 1,史 shi 1,陶 tao 1,贺 he 1,毛 mao 1,郝 hao 1,顾 gu 1,龚 gong 1,邵 shao 1,
万 wan 1,覃 qin 1,武 wu 1,钱 qian 1,严 yan 1,欧阳 ouyang 0.3,司马 sima 0.05,诸葛 zhuge 0.05,
上官 shangguan 0.05
"""
MALE_GIVEN = (
    "伟wei 强qiang 磊lei 军jun 勇yong 杰jie 涛tao 斌bin 超chao 明ming 刚gang 平ping 辉hui 鹏peng "
    "华hua 飞fei 鑫xin 波bo 宁ning 建jian 国guo 峰feng 文wen 东dong 海hai 林lin 志zhi 俊jun 毅yi "
    "浩hao 宇yu 晨chen 亮liang 成cheng 立li 龙long 锋feng 新xin 永yong 庆qing 春chun 光guang 德de "
    "荣rong 学xue 振zhen 长chang 云yun 卫wei 晓xiao"
)
FEMALE_GIVEN = (
    "芳fang 娜na 敏min 静jing 丽li 艳yan 娟juan 霞xia 燕yan 玲ling 婷ting 雪xue 慧hui 莉li 萍ping "
    "红hong 琳lin 洁jie 颖ying 倩qian 梅mei 琴qin 晶jing 蕾lei 欣xin 悦yue 佳jia 蓉rong 琼qiong "
    "兰lan 秀xiu 英ying 华hua 春chun 文wen 晓xiao 玉yu 凤feng 桂gui 宁ning"
)
SINGLE_GIVEN_SHARE = 0.30


def _surnames() -> Weighted[tuple[str, str]]:
    items = [entry.split() for entry in SURNAMES_TEXT.replace("\n", "").split(",")]
    return Weighted([(name, pinyin) for name, pinyin, _ in items], [float(w) for *_, w in items])


def _given(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((entry[0], entry[1:]) for entry in text.split())


SURNAMES = _surnames()
GIVEN = {True: _given(MALE_GIVEN), False: _given(FEMALE_GIVEN)}

# three-digit mobile prefixes: the older 13x/15x/18x segments hold most numbers
PHONE_PREFIXES = Weighted(
    [*range(130, 140), 147, *range(150, 154), *range(155, 160), 166, 173, *range(175, 179),
     *range(180, 190), 191, 193, 195, 198, 199],
    [*[3.0] * 10, 1.0, *[3.0] * 9, 1.0, *[1.0] * 5, *[3.0] * 10, *[1.0] * 5],
)  # fmt: skip
EMAIL_DOMAINS = table("""
163.com 25
qq.com 30
126.com 15
sina.com 5
foxmail.com 5
139.com 5
sohu.com 3
yeah.net 2
aliyun.com 2
hotmail.com 3
gmail.com 2
""")

# -- titles and qualifications -------------------------------------------------------------

LEVELS = ("初级", "中级", "副高级", "正高级")
LEVEL_INDEX = Weighted(range(4), [5, 25, 45, 25])
BIRTH_MODE = tuple(dt.date(year, 7, 1).toordinal() for year in (1993, 1987, 1977, 1968))
YEARS_TO_TITLE = ((1, 3), (4, 9), (8, 16), (14, 26))  # after work start, by level
SERIES = {
    "engineer": (("助理工程师",), ("工程师",), ("高级工程师",), ("正高级工程师", "教授级高级工程师")),
    "architect": (("助理建筑师",), ("建筑师",), ("高级建筑师",), ("教授级高级建筑师",)),
    "economist": (("助理经济师",), ("经济师",), ("高级经济师",), ("正高级经济师",)),
    "accountant": (("助理会计师",), ("会计师",), ("高级会计师",), ("正高级会计师",)),
    "auditor": (("助理审计师",), ("审计师",), ("高级审计师",), ("正高级审计师",)),
    "teacher": (("助教",), ("讲师",), ("副教授",), ("教授",)),
    "researcher": (("研究实习员",), ("助理研究员",), ("副研究员",), ("研究员",)),
    "health": (("医师", "药师"), ("主治医师", "主管药师"), ("副主任医师", "副主任药师"),
               ("主任医师", "主任药师")),
}  # fmt: skip
SERIES_BY_CATEGORY = {
    "A": table("engineer 80\narchitect 5\neconomist 8\nteacher 4\nresearcher 3"),
    "B": table("engineer 65\neconomist 12\nteacher 8\nresearcher 6\nhealth 9"),
    "C": table(
        "economist 30\naccountant 22\nauditor 8\nengineer 18\nteacher 10\nresearcher 6\nhealth 6"
    ),
}
QUALIFICATIONS = {
    "A": table("""
一级注册建造师 20
二级注册建造师 10
注册造价工程师 15
注册监理工程师 15
一级注册建筑师 6
一级注册结构工程师 6
注册土木工程师（岩土） 4
注册电气工程师 4
注册公用设备工程师 4
注册咨询工程师（投资） 8
注册安全工程师 5
注册城乡规划师 3
"""),
    "B": table("""
注册设备监理师 20
注册电气工程师 15
一级注册计量师 10
注册咨询工程师（投资） 15
执业药师 15
注册安全工程师 10
一级注册建造师 10
"""),
    "C": table("""
注册会计师 25
注册税务师 10
资产评估师 10
法律职业资格 15
注册咨询工程师（投资） 15
注册造价工程师 10
注册城乡规划师 5
注册测绘师 5
注册环保工程师 5
"""),
}
SECOND_QUALIFICATION_SHARE = 0.25

# -- disciplines ---------------------------------------------------------------------------

CATEGORIES = table("A 55\nB 20\nC 25")
CODES_PER_EXPERT = Weighted((1, 2, 3), (45, 35, 20))
MAX_CODE_ATTEMPTS = 20


class Disciplines:
    """Draws the discipline codes of one expert (see the module docstring)."""

    def __init__(self, rng: random.Random, current: Edition, trial: Edition) -> None:
        """Shuffle each 门类 and level of ``current`` into Zipf ranks; index the 一级 groups."""
        self.by_category: dict[str, tuple[Weighted[str], Weighted[str]]] = {}
        for category in ("A", "B", "C"):
            ranked = []
            for level in (3, 2):
                codes = sorted(
                    d.code for d in current if d.level == level and d.code.startswith(category)
                )
                rng.shuffle(codes)
                ranked.append(Weighted(codes, zipf(len(codes), DISCIPLINE_ZIPF_Q)))
            self.by_category[category] = (ranked[0], ranked[1])
        groups: dict[str, list[str]] = {}
        for code in sorted(d.code for d in current if d.level >= 2):
            groups.setdefault(code[:3], []).append(code)
        self.groups = {prefix: tuple(codes) for prefix, codes in groups.items()}
        old = sorted(d.code for d in trial if d.level >= 2)
        rng.shuffle(old)
        self.trial = Weighted(old, zipf(len(old), DISCIPLINE_ZIPF_Q))

    def one(self, rng: random.Random, category: str) -> str:
        """One 二级 or 三级 code of ``category``, by Zipf rank."""
        level3, level2 = self.by_category[category]
        return (level3 if rng.random() < LEVEL3_SHARE else level2).pick(rng)

    def pick(self, rng: random.Random) -> tuple[str, list[str]]:
        """The expert's 门类 (of the first code) and the codes as written in the file."""
        if rng.random() < TRIAL_ONLY_SHARE:
            code = self.trial.pick(rng)
            return code[0], [f"{TRIAL_EDITION[1]}:{code}"]
        first = self.one(rng, CATEGORIES.pick(rng))
        codes = [first]
        wanted = CODES_PER_EXPERT.pick(rng)
        for _ in range(MAX_CODE_ATTEMPTS):
            if len(codes) == wanted:
                break
            if rng.random() < SAME_GROUP_SHARE:
                group = self.groups[first[:3]]
                code = group[int(rng.random() * len(group))]
            else:
                code = self.one(rng, CATEGORIES.pick(rng))
            if not any(code.startswith(c) or c.startswith(code) for c in codes):
                codes.append(code)
        return first[0], codes


# -- organisations -------------------------------------------------------------------------

# name suffix, the first two characters of the 统一社会信用代码, whether the name carries a
# trade name (字号) first, weight
ORGANISATION_KINDS = Weighted(
    (
        ("建筑设计研究院有限公司", "91", False),
        ("市政工程设计研究院有限公司", "91", False),
        ("建设工程有限公司", "91", True),
        ("建设集团有限公司", "91", True),
        ("工程咨询有限公司", "91", True),
        ("工程造价咨询有限公司", "91", True),
        ("工程监理有限公司", "91", True),
        ("交通规划勘察设计院有限公司", "91", False),
        ("水利水电勘测设计院有限公司", "91", False),
        ("电力设计院有限公司", "91", True),
        ("岩土工程勘察院有限公司", "91", True),
        ("建筑科学研究院有限公司", "91", False),
        ("环境科学研究院", "12", False),
        ("城乡规划设计研究院", "12", False),
        ("信息技术有限公司", "91", True),
        ("智能科技有限公司", "91", True),
        ("医疗器械有限公司", "91", True),
        ("机电设备有限公司", "91", True),
        ("仪器仪表有限公司", "91", True),
        ("会计师事务所（特殊普通合伙）", "91", True),
        ("资产评估有限公司", "91", True),
        ("律师事务所", "31", True),
        ("人民医院", "12", False),
        ("建设职业技术学院", "12", False),
        ("建筑业协会", "51", False),
    ),
    (6, 3, 10, 5, 8, 6, 6, 2, 2, 2, 2, 2, 2, 2, 5, 3, 3, 3, 2, 3, 2, 2, 1, 1, 1),
)
TRADE_CHARS = "华中宏信远建天恒泰盛鑫达通安正诚永金海东新瑞博德光晟嘉利兴源隆昌明聚成越和弘启"
ORDINALS = "二三四五六七八九"
NEW_STYLE_SHARE = 0.30  # organisation codes of the 2015 scheme start with MA
CITY_LEVEL_SHARE = 0.40  # the code's region part is the city's (xxxx00), else a county's
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation of the pool."""

    code: str
    name: str
    province: str
    city: str


def org_code_check(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    check = 11 - sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _uscc(rng: random.Random, prefix: str, region: str, used: set[str]) -> str:
    while True:
        if rng.random() < NEW_STYLE_SHARE:
            body = "MA" + "".join(USCC_ALPHABET[int(rng.random() * 31)] for _ in range(6))
        else:
            body = f"{int(rng.random() * 100_000_000):08d}"
        first17 = f"{prefix}{region}{body}{org_code_check(body)}"
        if first17 not in used:
            used.add(first17)
            return first17 + uscc_check(first17)


def _trade(rng: random.Random) -> str:
    first, second = rng.sample(TRADE_CHARS, 2)
    return first + second


def _org_name(rng: random.Random, city: str, suffix: str, trade: bool, used: set[str]) -> str:
    candidates = (
        [] if trade else [f"{city}市{suffix}", *(f"{city}市第{n}{suffix}" for n in ORDINALS)]
    )
    for name in candidates:
        if name not in used:
            used.add(name)
            return name
    while True:
        name = f"{city}{_trade(rng)}{suffix}"
        if name not in used:
            used.add(name)
            return name


class Employers:
    """The organisation pool, each sized by a Zipf-Mandelbrot rank."""

    def __init__(self, rng: random.Random, size: int) -> None:
        """Make ``size`` organisations placed like the experts' work provinces."""
        codes: set[str] = set()
        names: set[str] = set()
        self.organisations = [self._make(rng, codes, names) for _ in range(size)]
        self.anywhere = Weighted(self.organisations, zipf(size, EMPLOYER_ZIPF_Q))
        by_province: dict[str, list[Organisation]] = {}
        for organisation in self.organisations:
            by_province.setdefault(organisation.province, []).append(organisation)
        self.by_province = {
            code: Weighted(orgs, zipf(len(orgs), EMPLOYER_ZIPF_Q))
            for code, orgs in by_province.items()
        }

    @staticmethod
    def _make(rng: random.Random, codes: set[str], names: set[str]) -> Organisation:
        province = WORK.pick(rng)
        city, city_name = province.city(rng)
        suffix, prefix, trade = ORGANISATION_KINDS.pick(rng)
        region = (
            f"{province.code}{city}00"
            if rng.random() < CITY_LEVEL_SHARE
            else province.region(rng, city)
        )
        return Organisation(
            code=_uscc(rng, prefix, region, codes),
            name=_org_name(rng, city_name, suffix, trade, names),
            province=province.code,
            city=city,
        )

    def pick(self, rng: random.Random, province: str) -> Organisation:
        """An employer: of ``province`` for ``LOCAL_EMPLOYER_SHARE``, else of anywhere."""
        local = self.by_province.get(province)
        if local is not None and rng.random() < LOCAL_EMPLOYER_SHARE:
            return local.pick(rng)
        return self.anywhere.pick(rng)

    def other(self, rng: random.Random, province: str, taken: Collection[str]) -> Organisation:
        """An organisation whose code is not in ``taken``."""
        while True:
            organisation = self.pick(rng, province)
            if organisation.code not in taken:
                return organisation


# -- rows ----------------------------------------------------------------------------------


class Library:
    """Makes rows; keeps only the identifiers already used."""

    def __init__(self, rng: random.Random, count: int, data_dir: Path) -> None:
        """Load both editions and make the organisation pool."""
        current = read_edition(data_dir / CURRENT_EDITION[0], CURRENT_EDITION[1]).edition
        trial = read_edition(data_dir / TRIAL_EDITION[0], TRIAL_EDITION[1]).edition
        self.disciplines = Disciplines(rng, current, trial)
        size = max(MIN_ORGANISATIONS, count // EXPERTS_PER_ORGANISATION)
        self.employers = Employers(rng, size)
        self.resident_ids: set[int] = set()
        self.phones: set[int] = set()

    def row(self, rng: random.Random) -> list[str]:
        """One expert, in ``COLUMNS`` order."""
        level = LEVEL_INDEX.pick(rng)
        male = rng.random() < MALE_SHARE
        home = HOME.pick(rng)
        birth = min(LAST_BIRTH, int(rng.triangular(FIRST_BIRTH, LAST_BIRTH + 1, BIRTH_MODE[level])))
        full_name, email = _name_and_email(rng, male, birth)
        resident_id = self._resident_id(rng, home.region(rng, home.city(rng)[0]), birth, male)
        category, codes = self.disciplines.pick(rng)
        start = between(rng, add_years(birth, 21), add_years(birth, 27) - 1)  # aged 21-26
        work = home if rng.random() < STAY_HOME_SHARE else MOVED.pick(rng)
        employer = self.employers.pick(rng, work.code)
        qualifications = _qualifications(rng, category, start)
        affiliations, since = self._affiliations(rng, work.code, employer, start, qualifications)
        city = (
            employer.city
            if employer.province == work.code and rng.random() < EMPLOYER_CITY_SHARE
            else work.city(rng)[0]
        )
        return [
            full_name, resident_id, self._phone(rng), email, LEVELS[level],
            _title_name(rng, category, level), day(_title_date(rng, level, start)), day(start),
            ";".join(qualifications), ";".join(codes), work.region(rng, city),
            *_flags(rng, birth, start),
            ";".join(affiliations), employer.code, employer.name, day(since),
        ]  # fmt: skip

    def _resident_id(self, rng: random.Random, region: str, birth: int, male: bool) -> str:
        born = dt.date.fromordinal(birth).strftime("%Y%m%d")
        while True:
            first17 = f"{region}{born}{int(rng.random() * 500) * 2 + male:03d}"
            if int(first17) not in self.resident_ids:
                self.resident_ids.add(int(first17))
                return first17 + resident_id_check(first17)

    def _phone(self, rng: random.Random) -> str:
        while True:
            number = PHONE_PREFIXES.pick(rng) * 100_000_000 + int(rng.random() * 100_000_000)
            if number not in self.phones:
                self.phones.add(number)
                return str(number)

    def _affiliations(
        self,
        rng: random.Random,
        province: str,
        employer: Organisation,
        start: int,
        qualifications: list[str],
    ) -> tuple[list[str], int]:
        """The ``affiliations`` items and the current employer's start."""
        items = []
        taken = {employer.code}
        if rng.random() < PAST_EMPLOYER_SHARE:
            past = self.employers.other(rng, province, taken)
            taken.add(past.code)
            past_start = (
                start
                if rng.random() < 0.6
                else between(rng, start, start + (LAST_DAY - start) // 3)
            )
            span = LAST_DAY - past_start
            past_end = past_start + between(rng, span // 10, span * 8 // 10)
            since = min(LAST_DAY, past_end + between(rng, 1, 90))
            items.append(f"employer:{past.code}:{day(past_start)}:{day(past_end)}")
        else:
            since = start if rng.random() < 0.5 else between(rng, start, LAST_DAY - 30)
        for kind, share in (
            ("registration", REGISTRATION_SHARE[bool(qualifications)]),
            ("declared_avoid", DECLARED_AVOID_SHARE),
            ("relative", RELATIVE_SHARE),
        ):
            if rng.random() < share:
                other = self.employers.other(rng, province, taken)
                taken.add(other.code)
                items.append(f"{kind}:{other.code}:{day(between(rng, start, LAST_DAY))}")
        return items, since


def _name_and_email(rng: random.Random, male: bool, birth: int) -> tuple[str, str]:
    surname, surname_pinyin = SURNAMES.pick(rng)
    given = GIVEN[male]
    count = 1 if rng.random() < SINGLE_GIVEN_SHARE else 2
    chars = [given[int(rng.random() * len(given))] for _ in range(count)]
    if count == 2 and chars[0] == chars[1] and rng.random() < 0.8:  # 叠字 names stay rare
        chars.pop()
    name = surname + "".join(c for c, _ in chars)
    if rng.random() >= EMAIL_SHARE:
        return name, ""
    domain = EMAIL_DOMAINS.pick(rng)
    if domain == "qq.com" and rng.random() < 0.7:
        return name, f"{between(rng, 100_000, 3_999_999_999)}@qq.com"
    given_pinyin = "".join(p for _, p in chars)
    style = int(rng.random() * 4)
    local = (
        f"{surname_pinyin}{given_pinyin}",
        f"{surname_pinyin}.{given_pinyin}",
        f"{surname_pinyin}{given_pinyin}{dt.date.fromordinal(birth).year}",
        f"{given_pinyin}{surname_pinyin}{between(rng, 1, 999)}",
    )[style]
    return name, f"{local}@{domain}"


def _title_name(rng: random.Random, category: str, level: int) -> str:
    names = SERIES[SERIES_BY_CATEGORY[category].pick(rng)][level]
    return names[int(rng.random() * len(names))]


def _title_date(rng: random.Random, level: int, start: int) -> int:
    low, high = YEARS_TO_TITLE[level]
    obtained = start + int(rng.uniform(low * YEAR, high * YEAR))
    return obtained if obtained <= LAST_DAY else between(rng, start + 1, LAST_DAY)


def _qualifications(rng: random.Random, category: str, start: int) -> list[str]:
    if rng.random() >= QUALIFIED_SHARE:
        return []
    names = [QUALIFICATIONS[category].pick(rng)]
    if rng.random() < SECOND_QUALIFICATION_SHARE:
        second = QUALIFICATIONS[category].pick(rng)
        if second != names[0]:
            names.append(second)
    earliest = min(start + int(2 * YEAR), LAST_DAY)
    return [f"{name}@{day(between(rng, earliest, LAST_DAY))}" for name in names]


LIBRARY_TYPES = table("provincial 90\nstate_council 7\nother 3")
REVIEWS = table("approved 95\nprovisional 5")
AGE_65 = dt.date(1961, 11, 25).toordinal()  # born on or before: 65 or more on 2026-11-25


def _flags(rng: random.Random, birth: int, start: int) -> list[str]:
    """accepts_remote, library_type, review, declaration_date, training_date, age_exempt."""
    declaration = ""
    if rng.random() < DECLARATION_SHARE:
        declaration = day(between(rng, max(start, DECLARATIONS_FROM), LAST_DAY))
    training = ""
    if rng.random() < TRAINING_SHARE:
        if rng.random() < RECENT_TRAINING_SHARE:
            training = day(between(rng, max(start, RECENT_TRAINING_FROM), LAST_DAY))
        else:
            low = max(start, OLD_TRAINING_FROM)
            training = day(between(rng, low, max(low, RECENT_TRAINING_FROM - 1)))
    return [
        "是" if rng.random() < REMOTE_SHARE else "否",
        LIBRARY_TYPES.pick(rng),
        REVIEWS.pick(rng),
        declaration,
        training,
        "是" if rng.random() < AGE_EXEMPT_SHARE[birth <= AGE_65] else "否",
    ]


def generate(count: int, seed: int, out: Path, data_dir: Path) -> int:
    """Write ``count`` rows to ``out``; return the number of organisations."""
    rng = random.Random(seed)
    library = Library(rng, count, data_dir)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)  # RFC 4180: CRLF line ends, quotes only where needed
        writer.writerow(COLUMNS)
        for _ in range(count):
            writer.writerow(library.row(rng))
    return len(library.employers.organisations)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write a deterministic synthetic expert library as an import CSV."
    )
    parser.add_argument("--count", type=int, required=True, help="number of experts (rows)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help=f"where the discipline-standard tables are (default {DATA_DIR})",
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    started = time.perf_counter()
    organisations = generate(args.count, args.seed, args.out, args.data_dir)
    seconds = time.perf_counter() - started
    size = args.out.stat().st_size
    print(
        f"{args.count:,} rows, {organisations:,} organisations, {seconds:.1f} s, "
        f"{size:,} bytes ({size / 1_000_000:.1f} MB): {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
