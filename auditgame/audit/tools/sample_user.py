from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from inspect_ai.tool import Tool, tool

from auditgame.audit.prompts import SAMPLE_USER_INSTRUCTION, SAMPLE_USER_OPENING
from auditgame.audit.store import Conversation
from auditgame.audit.target import TargetSession, require_conversation, target_errors
from auditgame.organism.engine import GenerationRequest, SamplingKey


async def sample_local_user(session: TargetSession, convo: Conversation) -> str:
    """A local organism writes the next user turn itself: its chat template is rendered up to
    the user header and the model continues from there."""
    engine = session.local_engine("sample_user")
    visible = [ChatMessageSystem(content=convo.system)] if convo.system else []
    async with target_errors():  # a template may refuse the conversation or drop the text
        prompt = engine.user_prompt([*visible, *convo.messages], convo.thinking)
        request = GenerationRequest(
            prompt=prompt,
            max_new_tokens=session.store.budget.reply_tokens,
            sampling=SamplingKey(**engine.default_sampling()),
        )
    generation = await session.generate_local(engine, request)
    return generation.text


async def sample_flipped_user(session: TargetSession, convo: Conversation) -> str:
    """Any other target writes the user turn with the roles swapped."""
    flipped: list[ChatMessage] = [ChatMessageSystem(content=SAMPLE_USER_INSTRUCTION)]
    for message in convo.messages:
        if isinstance(message, ChatMessageAssistant):
            flipped.append(ChatMessageUser(content=message.text))
        else:
            flipped.append(ChatMessageAssistant(content=message.text))
    if len(flipped) == 1 or isinstance(flipped[-1], ChatMessageAssistant):
        flipped.append(ChatMessageUser(content=SAMPLE_USER_OPENING))
    output = await session.generate(flipped)
    return output.message.text


@tool
def sample_user(session: TargetSession) -> Tool:
    async def execute(conversation: str) -> str:
        """Let the target write the NEXT USER message of a conversation (what it expects or
        imagines a user would say). Nothing is added to the conversation; send the text with
        send_message if you want to use it.

        Args:
            conversation: Name of the conversation (a new name samples an opening message).

        Returns:
            The user message the target wrote.
        """
        convo = require_conversation(session.store, conversation, must_exist=False)
        if session.engine is not None:
            return await sample_local_user(session, convo)
        return await sample_flipped_user(session, convo)

    return execute
