"""``style="chat-zh"``: two friends chatting in Chinese, for measuring retrieval where the English default encoder
does not read the text (issue 24.16).

Written from scratch like the English styles, and shaped like them where the policies care: dated sessions over
months; per persona a home, a job, a pet, a taste in food or drink and hobbies, each said once in a turn of its own
among small talk, several of them changing later (a move, a new job, a pet named later, a changed taste); people
around each persona (a colleague, a sister, a neighbour) with facts from the same vocabulary as the distractors;
and LoCoMo's question categories (1 multi-hop over a change, 2 temporal, 4 single-hop, 5 adversarial: asked of the
wrong persona). Questions are worded with other words than the fact's turn (养 / 宠物, 搬到 / 住在, 当 / 职业) and
several templates each, so character overlap alone does not find the evidence. Chinese has no spaces: retrieval sees
it through the encoder and BM25's character unigrams and bigrams (``reme.retrieval.keyword``).

The same arguments always give the same item; the order of the random draws is the output's identity.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from .text import session_stamp

__all__ = ["build"]

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭")
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞")
CITIES = ("上海", "成都", "杭州", "西安", "南京", "武汉", "重庆", "厦门", "青岛", "昆明", "苏州", "长沙")
JOBS = (
    ("护士", "医院"), ("老师", "小学"), ("程序员", "软件公司"), ("会计", "事务所"), ("厨师", "餐厅"), ("记者", "报社"),
    ("设计师", "广告公司"), ("律师", "律所"), ("药剂师", "药店"), ("工程师", "研究所"),
)  # fmt: skip
PETS = (("猫", "只"), ("狗", "条"), ("兔子", "只"), ("仓鼠", "只"), ("鹦鹉", "只"), ("乌龟", "只"))
PET_NAMES = ("咪咪", "豆豆", "球球", "花花", "团子", "小白", "旺财", "年糕", "可乐", "布丁")
TASTES = ("拿铁", "绿茶", "奶茶", "乌龙茶", "美式咖啡", "豆浆", "酸奶", "果汁")
HOBBIES = ("爬山", "游泳", "弹钢琴", "下围棋", "练瑜伽", "画画", "钓鱼", "跑步", "摄影", "跳舞", "书法", "烘焙")
RELATIONS = ("同事", "姐姐", "邻居", "表弟", "大学同学", "室友")
SMALL_TALK = (
    "最近怎么样？好久没聊了。", "还行吧，就是有点忙。", "哈哈，我也是。", "今天天气真不错。", "周末有什么安排吗？",
    "没什么特别的，在家休息。", "真的吗？太好了！", "嗯嗯，我懂你的意思。", "下次一起吃饭吧。", "好呀，到时候再约。",
    "这几天加班加得有点累。", "注意身体啊。", "你说得对。", "哈哈哈，太搞笑了。", "我刚看完一部电影，还不错。",
    "最近在追一部剧，停不下来。", "下周可能要出差。", "好的，回头聊！",
)  # fmt: skip


@dataclass
class _Talk:
    rng: random.Random
    names: tuple[str, str]
    n: int
    dates: list[dt.datetime]
    sessions: list[list[tuple[int, str]]] = field(default_factory=list)
    """Per session, its planned (persona, text) turns before the small talk is woven in."""
    asks: list[dict[str, Any]] = field(default_factory=list)

    def say(self, session: int, who: int, text: str) -> tuple[int, int]:
        self.sessions[session].append((who, text))
        return session, len(self.sessions[session]) - 1

    def later(self, session: int) -> int | None:
        return self.rng.randint(session + 1, self.n - 1) if session < self.n - 1 else None


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        if name not in taken:
            taken.add(name)
            return name


def _plan(t: _Talk, taken: set[str]) -> None:
    """Every fact, change, distractor and question, as (session, index) of the planned turns."""
    rng = t.rng

    def ask(category: int, templates: tuple[str, ...], answer: str, evidence: list[tuple[int, int]], **kw: str):
        t.asks.append({"question": rng.choice(templates).format(**kw), "answer": answer, "evidence": evidence,
                       "category": category})  # fmt: skip

    cities = rng.sample(CITIES, 4)
    jobs = rng.sample(JOBS, 4)
    tastes = rng.sample(TASTES, 4)
    hobbies = rng.sample(HOBBIES, 4)
    for p, me in enumerate(t.names):
        # home, and maybe a move
        s = rng.randint(0, max(0, t.n - 2))
        home = t.say(s, p, rng.choice(("我现在在{c}生活，已经习惯这边了。", "我住在{c}，这边的生活节奏挺慢的。",
                                        "{c}这几天下雨，我家楼下都积水了。")).format(c=cities[p]))  # fmt: skip
        moved = t.later(s) if rng.random() < 0.7 else None
        if moved is None:
            ask(4, ("{me}住在哪个城市？", "{me}现在在哪里生活？"), cities[p], [home], me=me)
        else:
            said = rng.choice(("跟你说，我下个月要搬到{c}去了！", "我已经搬到{c}了，还在收拾东西。"))
            move = t.say(moved, p, said.format(c=cities[p + 2]))
            ask(4, ("{me}现在住在哪个城市？", "{me}搬去了哪里？"), cities[p + 2], [move], me=me)
            ask(1, ("{me}从哪个城市搬到了哪个城市？",), f"从{cities[p]}到{cities[p + 2]}", [home, move], me=me)
            ask(2, ("{me}是什么时候说要搬家的？", "{me}什么时候提到搬走的？"), session_stamp(t.dates[moved]),
                [move], me=me)  # fmt: skip
        # job, and maybe a new one
        s = rng.randint(0, max(0, t.n - 2))
        role, place = jobs[p]
        job = t.say(s, p, rng.choice(("我在一家{w}当{r}，每天都很忙。", "做{r}这行真不容易，{w}里事情特别多。")).format(
            r=role, w=place))  # fmt: skip
        switched = t.later(s) if rng.random() < 0.6 else None
        if switched is None:
            ask(4, ("{me}的职业是什么？", "{me}是做什么工作的？"), role, [job], me=me)
        else:
            role2, place2 = jobs[p + 2]
            new = t.say(switched, p, f"我辞职了，现在去了一家{place2}做{role2}，感觉轻松多了。")
            ask(4, ("{me}现在的职业是什么？", "{me}换工作以后做什么？"), role2, [new], me=me)
            ask(1, ("{me}以前做什么工作，后来换成了什么？",), f"从{role}换成{role2}", [job, new], me=me)
        # a pet, named now or later
        animal, measure = rng.choice(PETS)
        pet_name = rng.choice(PET_NAMES)
        s = rng.randint(0, max(0, t.n - 1))
        later = t.later(s) if rng.random() < 0.5 else None
        if later is None:
            pet = t.say(s, p, f"我家那{measure}{animal}{pet_name}今天又闯祸了，真拿它没办法。")
            ask(4, ("{me}养了什么宠物？", "{me}家里有什么小动物？"), animal, [pet], me=me)
            ask(4, ("{me}的宠物叫什么名字？",), pet_name, [pet], me=me)
        else:
            pet = t.say(s, p, f"我刚从救助站领养了一{measure}{animal}，还没想好起什么名字。")
            named = t.say(later, p, f"对了，我给它取名叫{pet_name}了，它现在特别黏我。")
            ask(4, ("{me}养了什么宠物？", "{me}家里有什么小动物？"), animal, [pet], me=me)
            ask(1, ("{me}领养的动物叫什么名字？",), pet_name, [pet, named], me=me)
        # a taste, maybe changed
        s = rng.randint(0, max(0, t.n - 2))
        said = rng.choice(("我每天早上都要来一杯{d}，不然没精神。", "我最爱喝{d}了，一天不喝就难受。"))
        taste = t.say(s, p, said.format(d=tastes[p]))
        changed = t.later(s) if rng.random() < 0.6 else None
        if changed is None:
            ask(4, ("{me}平时爱喝什么？", "{me}早上喝什么提神？"), tastes[p], [taste], me=me)
        else:
            new = t.say(changed, p, f"我最近不喝{tastes[p]}了，改喝{tastes[p + 2]}，感觉更健康。")
            ask(1, ("{me}的饮品口味有什么变化？", "{me}以前和现在分别喜欢喝什么？"), f"从{tastes[p]}到{tastes[p + 2]}",
                [taste, new], me=me)  # fmt: skip
        # a hobby
        s = rng.randint(0, t.n - 1)
        hobby = t.say(s, p, rng.choice(("我最近迷上了{h}，每个周末都去。", "上周末我又去{h}了，累但是开心。")).format(
            h=hobbies[p]))  # fmt: skip
        ask(4, ("{me}业余时间喜欢做什么？", "{me}周末一般干什么？"), hobbies[p], [hobby], me=me)
        # the adversarial: the other persona's hobby asked of this one
        other = t.names[1 - p]
        ask(5, ("{me}的爱好是{h}吗？",), "没有提到", [hobby], me=other, h=hobbies[p])
        # people around them, with facts from the same words (the distractors)
        for _ in range(2):
            relation = rng.choice(RELATIONS)
            person = _name(rng, taken)
            s = rng.randint(0, t.n - 1)
            fact = rng.choice((
                f"我{relation}{person}也养了一{measure}{animal}，天天发照片。",
                f"我{relation}{person}上个月搬到{rng.choice(CITIES)}了。",
                f"我{relation}{person}在{rng.choice(JOBS)[1]}上班，经常加班。",
                f"我{relation}{person}特别喜欢{rng.choice(HOBBIES)}。",
            ))  # fmt: skip
            t.say(s, p, fact)


def build(rng: random.Random, sample_id: str, sessions: int) -> dict[str, Any]:
    """One Chinese conversation of ``sessions`` sessions drawn from ``rng``, as a LoCoMo item."""
    taken: set[str] = set()
    names = (_name(rng, taken), _name(rng, taken))
    start = dt.datetime(2023, 3, 1, 9, 0) + dt.timedelta(days=rng.randint(0, 200))
    dates, moment = [], start
    for _ in range(sessions):
        dates.append(moment.replace(hour=rng.randint(8, 21), minute=rng.randint(0, 59)))
        moment += dt.timedelta(days=rng.randint(3, 20))
    talk = _Talk(rng, names, sessions, dates, [[] for _ in range(sessions)])
    _plan(talk, taken)
    conversation: dict[str, Any] = {"speaker_a": names[0], "speaker_b": names[1]}
    where: dict[tuple[int, int], str] = {}
    for s, planned in enumerate(talk.sessions):
        turns: list[dict[str, Any]] = []
        opener = rng.randint(0, 1)
        for i in range(rng.randint(2, 3)):  # a greeting or two before the news
            turns.append({"speaker": names[(opener + i) % 2], "text": rng.choice(SMALL_TALK)})
        for index, (who, text) in enumerate(planned):
            where[(s, index)] = f"D{s + 1}:{len(turns) + 1}"
            turns.append({"speaker": names[who], "text": text})
            for _ in range(rng.choice((1, 1, 2))):  # the friend answers, small talk between facts
                turns.append({"speaker": names[1 - who], "text": rng.choice(SMALL_TALK)})
        for k, turn in enumerate(turns):
            turn["dia_id"] = f"D{s + 1}:{k + 1}"
        conversation[f"session_{s + 1}_date_time"] = session_stamp(dates[s])
        conversation[f"session_{s + 1}"] = turns
    qa = []
    for a in talk.asks:
        item = {"question": a["question"], "evidence": [where[e] for e in a["evidence"]], "category": a["category"]}
        item["adversarial_answer" if a["category"] == 5 else "answer"] = a["answer"]
        qa.append(item)
    return {"qa": qa, "conversation": conversation, "sample_id": sample_id}
