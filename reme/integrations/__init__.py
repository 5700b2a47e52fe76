"""Integrations with other systems, each an optional extra, none imported by ``import reme``:

- ``reme.integrations.agentscope``: AgentScope 1.x long-term memory and the ``pre_reasoning`` hook (``agentscope``);
- ``reme.integrations.openai_agents``: memory tools and run hooks for the OpenAI Agents SDK (``openai-agents``);
- ``reme.integrations.langchain``: a LangChain retriever (``langchain``);
- ``reme.integrations.areal``: the AReaL workflow and launcher that train the LLM memory writer.

Each sends task outcomes and user feedback back as rewards on the decisions behind them (docs/integrations.md).
"""
