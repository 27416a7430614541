using System.Text.Json;
using Microsoft.Extensions.AI;

namespace AgentSessions.Functions.Agents.Llm;

/// <summary>
/// The tools an LLM agent offers its model, each mapping onto the session's messages, and the checks a call must pass
/// before it is used. The model's tools are declarations only: calls are carried out here, never by the chat client.
/// </summary>
public static class LlmTools
{
    public const string Think = "think";
    public const string Log = "log";
    public const string AskUser = "ask_user";
    public const string Finish = "finish";
    public const string Fail = "fail";
    public const string FetchUrl = "fetch_url";

    /// <summary>The argument each tool takes (<c>fetch_url</c>'s is optional).</summary>
    public static string ArgumentOf(string tool) => tool switch
    {
        Think or Log => "text",
        AskUser => "question",
        Finish => "summary",
        Fail => "reason",
        FetchUrl => "url",
        _ => throw new ArgumentOutOfRangeException(nameof(tool), tool, "not a tool"),
    };

    /// <summary>The declarations sent with every call; <c>fetch_url</c> only when the agent enables it.</summary>
    public static IList<AITool> Declarations(bool fetchUrl)
    {
        var tools = new List<AITool>
        {
            Declare(Think, "Share your reasoning, plan or an intermediate finding with the user. Shown to the user as a THOUGHT.",
                "text", "What you are thinking, in a few sentences."),
            Declare(Log, "Report progress: an action you took or a fact you established. Shown to the user as a LOG entry.",
                "text", "What happened."),
            Declare(AskUser, "Ask the user a question when you need information, a decision or approval to go on. The task waits until the user answers; the answer arrives as the next user message.",
                "question", "The question, self-contained."),
            Declare(Finish, "The task is done. Ends the task.", "summary", "The result of the task for the user: what was done or found."),
            Declare(Fail, "The task cannot be done. Ends the task with an error.", "reason", "Why the task cannot be done."),
        };
        if (fetchUrl)
        {
            tools.Add(Declare(FetchUrl,
                "Read a web page (http or https) as plain text. The text comes back as this tool's result in your next step. Without a url, reads the current page: where the user last navigated, or the task's start URL.",
                "url", "Absolute http(s) URL of the page; leave out to read the current page.", required: false));
        }

        return tools;
    }

    /// <summary>Names of the tools offered, in the order they are declared.</summary>
    public static IReadOnlyList<string> Names(bool fetchUrl) =>
        fetchUrl ? [Think, Log, AskUser, Finish, Fail, FetchUrl] : [Think, Log, AskUser, Finish, Fail];

    /// <summary>
    /// Checks one call: a known tool, arguments that parsed as a JSON object, the tool's argument a non-empty string
    /// (or, for <c>fetch_url</c>, absent). Returns the argument's value (null for <c>fetch_url</c> without one), or
    /// sets <paramref name="problem"/> to what is wrong, phrased to complete "the call to NAME …".
    /// </summary>
    public static bool TryRead(FunctionCallContent call, bool fetchUrl, out string? argument, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(call);
        argument = null;
        problem = null;
        var names = Names(fetchUrl);
        if (!names.Contains(call.Name, StringComparer.Ordinal))
        {
            problem = $"names no tool offered; expected one of {string.Join(", ", names)}";
            return false;
        }

        if (call.Exception is not null)
        {
            problem = "has arguments that are not a JSON object";
            return false;
        }

        var name = ArgumentOf(call.Name);
        object? value = null;
        var present = call.Arguments is not null && call.Arguments.TryGetValue(name, out value) && !IsNull(value);
        if (!present)
        {
            if (call.Name == FetchUrl)
            {
                return true;
            }

            problem = $"lacks the argument \"{name}\"; expected a non-empty string";
            return false;
        }

        var text = value switch
        {
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
            _ => null,
        };
        if (text is null)
        {
            problem = $"has \"{name}\" as {Describe(value)}; expected a non-empty string";
            return false;
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            problem = $"has an empty \"{name}\"; expected a non-empty string";
            return false;
        }

        argument = text.Trim();
        return true;
    }

    private static bool IsNull(object? value) => value is null || value is JsonElement { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined };

    private static string Describe(object? value) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.Number } => "a number",
        JsonElement { ValueKind: JsonValueKind.True or JsonValueKind.False } => "a boolean",
        JsonElement { ValueKind: JsonValueKind.Array } => "an array",
        JsonElement { ValueKind: JsonValueKind.Object } => "an object",
        bool => "a boolean",
        int or long or double or float or decimal => "a number",
        _ => "a value of another kind",
    };

    private static AIFunctionDeclaration Declare(string name, string description, string argument, string argumentDescription, bool required = true)
    {
        var schema = new Dictionary<string, object>
        {
            ["type"] = "object",
            ["properties"] = new Dictionary<string, object>
            {
                [argument] = new Dictionary<string, string> { ["type"] = "string", ["description"] = argumentDescription },
            },
        };
        if (required)
        {
            schema["required"] = new[] { argument };
        }

        return AIFunctionFactory.CreateDeclaration(name, description, JsonSerializer.SerializeToElement(schema));
    }
}
