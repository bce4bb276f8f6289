using System.Text.Json;
using OpenExec.Core.Json;

namespace OpenExec.Gateway.Http;

/// <summary>Writes a strict value as ordinary JSON, numbers exactly as they were written.</summary>
internal static class StrictValueWriter
{
    public static void Write(Utf8JsonWriter writer, StrictValue value)
    {
        switch (value)
        {
            case StrictObject obj:
                writer.WriteStartObject();
                foreach (var (key, item) in obj.Properties)
                {
                    writer.WritePropertyName(key);
                    Write(writer, item);
                }
                writer.WriteEndObject();
                break;
            case StrictArray array:
                writer.WriteStartArray();
                foreach (var item in array.Items)
                {
                    Write(writer, item);
                }
                writer.WriteEndArray();
                break;
            case StrictString s:
                writer.WriteStringValue(s.Value);
                break;
            case StrictNumber n:
                writer.WriteRawValue(n.Literal, skipInputValidation: true);
                break;
            case StrictLiteral l when ReferenceEquals(l, StrictLiteral.Null):
                writer.WriteNullValue();
                break;
            case StrictLiteral l:
                writer.WriteBooleanValue(ReferenceEquals(l, StrictLiteral.True));
                break;
        }
    }
}
