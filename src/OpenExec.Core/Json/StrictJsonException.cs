namespace OpenExec.Core.Json;

/// <summary>
/// The input is not JSON the gateway accepts. <see cref="Code"/> is the wire code
/// (<c>invalid_json</c>, <c>duplicate_key</c>, <c>invalid_number</c>).
/// </summary>
public sealed class StrictJsonException : Exception
{
    public StrictJsonException(string code, string message) : base(message) => Code = code;

    public StrictJsonException() : this("invalid_json", "Invalid JSON") { }

    public StrictJsonException(string message) : this("invalid_json", message) { }

    public StrictJsonException(string message, Exception innerException) : base(message, innerException) => Code = "invalid_json";

    public string Code { get; }
}
