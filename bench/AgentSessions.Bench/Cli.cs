using System.Globalization;

namespace AgentSessions.Bench;

/// <summary>A wrong command line; the message says what to fix.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary><c>mode --name value …</c>, with every name checked against the mode's known options.</summary>
public sealed class Cli
{
    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);

    private Cli(string mode) => Mode = mode;

    public string Mode { get; }

    public static Cli Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0].StartsWith('-'))
        {
            throw new UsageException("name a mode first: remote, inprocess or scale");
        }

        var cli = new Cli(args[0]);
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length < 3)
            {
                throw new UsageException($"unexpected argument '{arg}'; options look like --name value");
            }

            var name = arg[2..];
            var equals = name.IndexOf('=');
            if (equals > 0)
            {
                cli.values[name[..equals]] = name[(equals + 1)..];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                cli.values[name] = args[++i];
            }
            else
            {
                throw new UsageException($"option --{name} needs a value");
            }
        }

        return cli;
    }

    public void AllowOnly(params string[] names)
    {
        var unknown = values.Keys.Where(k => !names.Contains(k, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new UsageException($"unknown option(s) for mode '{Mode}': {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }

    public string? String(string name) => values.TryGetValue(name, out var value) ? value : null;

    public string RequiredString(string name) =>
        String(name) is { Length: > 0 } value ? value : throw new UsageException($"mode '{Mode}' needs --{name}");

    public int Int(string name, int fallback, int min, int max)
    {
        if (String(name) is not { } raw)
        {
            return fallback;
        }

        return int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"--{name} must be a whole number from {min} to {max}, not '{raw}'");
    }

    public double Double(string name, double fallback, double min, double max)
    {
        if (String(name) is not { } raw)
        {
            return fallback;
        }

        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"--{name} must be a number from {min} to {max}, not '{raw}'");
    }

    public string Choice(string name, string fallback, params string[] choices)
    {
        var value = String(name) ?? fallback;
        return choices.Contains(value, StringComparer.Ordinal)
            ? value
            : throw new UsageException($"--{name} must be one of {string.Join(", ", choices)}, not '{value}'");
    }
}
